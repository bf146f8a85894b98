import { createDebeziumDecoder, createDebeziumRecordDecoder } from '../../../src/ingest/decoders/debezium.decoder';
import type { DebeziumDecoderOptions } from '../../../src/ingest/decoders/debezium.decoder';
import {
  createFramedDecoder,
  debeziumFromAvro,
  SchemaNotLoadedError,
  type SchemaLookup,
} from '../../../src/ingest/decoders/registry-framed.decoder';
import type { RegisteredSchema } from '../../../src/schema-registry/schema-registry.client';
import { frame } from '../../../src/schema-registry/wire-format';
import {
  avroDecimal,
  avroVariableScaleDecimal,
  customersAvroColumns,
  customersAvroSchema,
  framedAvro,
  toAvro,
} from './debezium-avro.factory';
import {
  aCustomerRow,
  aDelete,
  anInsert,
  anUpdate,
  aSnapshotRead,
  customersEnvelopeSchema,
  customersMapping,
  SOURCE_TS_MS,
  toMessage,
  withSchema,
  type DebeziumPayload,
} from './debezium.factory';

const NOW = SOURCE_TS_MS + 60_000;
const options: DebeziumDecoderOptions = { defaultPhoneRegion: 'TW', maxFutureSkewMs: 300_000 };
const SCHEMA_ID = 7;

function registered(schema: unknown, id = SCHEMA_ID, schemaType: RegisteredSchema['schemaType'] = 'AVRO'): RegisteredSchema {
  return { id, schemaType, schema: JSON.stringify(schema) };
}

function anAvroDecoder(lookup: SchemaLookup, mapping = customersMapping()) {
  return createFramedDecoder('avro', 1024 * 1024, {
    avro: debeziumFromAvro(createDebeziumRecordDecoder(mapping, options)),
    json: createDebeziumDecoder(mapping, options),
  })(lookup);
}

describe('debezium-avro (Confluent wire format, Avro binary)', () => {
  const schema = customersAvroSchema();
  const sut = anAvroDecoder((id) => (id === SCHEMA_ID ? registered(schema) : undefined));
  const jsonPath = createDebeziumDecoder(customersMapping(), options);

  it.each<[string, DebeziumPayload]>([
    ['an insert', anInsert()],
    ['a snapshot read', aSnapshotRead()],
    ['an update of two columns', anUpdate(aCustomerRow(), aCustomerRow({ tier: 'Silver', points: 130 }))],
    ['an update clearing a column', anUpdate(aCustomerRow(), aCustomerRow({ first_name: null }))],
    ['an update changing nothing mapped', anUpdate(aCustomerRow(), aCustomerRow({ created_at: 1 }))],
    ['a delete (ignored by policy)', aDelete(aCustomerRow())],
  ])('decodes %s to exactly what the JSON converter path gives for the same change', (_name, payload) => {
    const expected = jsonPath(toMessage(withSchema(payload)), NOW);
    expect(sut(framedAvro(SCHEMA_ID, schema, payload), NOW)).toEqual(expected);
  });

  it('maps the Connect logical types the same way: Date to YYYY-MM-DD, MicroTimestamp to ISO-8601', () => {
    const result = sut(framedAvro(SCHEMA_ID, schema, anInsert()), NOW);
    expect(result).toEqual({
      kind: 'change',
      change: {
        key: { type: 'customer_id', value: 'C-1001' },
        patch: {
          cl_custom_first_name: 'Amy',
          cl_custom_last_name: 'Lin',
          display_email: 'amy@example.com',
          display_mobile: '+886912345678',
          birthday: '1990-04-01',
          gender: 'female',
          member_level: 'gold',
          cl_custom_points: 120,
          cl_custom_opt_in_sms: 'true',
          cl_custom_crm_updated_at: '2025-11-28T10:15:30.123Z',
        },
        sourceTs: SOURCE_TS_MS,
      },
    });
  });

  it('reads Decimal, VariableScaleDecimal and Json columns exactly as the JSON path reads them', () => {
    const columns = [
      ...customersAvroColumns(),
      { name: 'balance', type: avroDecimal(2, 12) },
      { name: 'ratio', type: avroVariableScaleDecimal() },
      { name: 'prefs', type: { type: 'string', 'connect.version': 1, 'connect.name': 'io.debezium.data.Json' } },
    ];
    const mapping = customersMapping({
      fields: {
        customer_id: 'customer_id',
        balance: 'custom.balance',
        ratio: 'custom.ratio',
        prefs: 'custom.prefs',
      },
    });
    const wide = customersAvroSchema(columns);
    const avro = anAvroDecoder(() => registered(wide), mapping);
    // 12345.60 (unscaled 1234560 = 0x12D680) and 3.14159 at scale 5 (314159 = 0x04CB2F).
    const row = aCustomerRow({
      balance: Buffer.from([0x12, 0xd6, 0x80]).toString('base64'),
      ratio: { scale: 5, value: Buffer.from([0x04, 0xcb, 0x2f]).toString('base64') },
      prefs: '{"lang":"zh-TW"}',
    });
    const jsonSchema = customersEnvelopeSchema();
    for (const part of jsonSchema.fields.slice(0, 2) as Array<{ fields: unknown[] }>) {
      part.fields.push(
        { type: 'bytes', optional: true, name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters: { scale: '2', 'connect.decimal.precision': '12' }, field: 'balance' },
        { type: 'struct', optional: true, name: 'io.debezium.data.VariableScaleDecimal', version: 1, fields: [], field: 'ratio' },
        { type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1, field: 'prefs' },
      );
    }
    const expected = createDebeziumDecoder(mapping, options)(toMessage({ schema: jsonSchema, payload: anInsert(row) }), NOW);
    const result = avro(framedAvro(SCHEMA_ID, wide, anInsert(row)), NOW);
    expect(result).toEqual(expected);
    expect(result).toMatchObject({ kind: 'change', change: { patch: { cl_custom_balance: 12345.6, cl_custom_ratio: 3.14159, cl_custom_prefs: '{"lang":"zh-TW"}' } } });
  });

  it('keeps every digit of a long beyond 2^53 bound for a text field', () => {
    const columns = customersAvroColumns().map((column) => (column.name === 'customer_id' ? { name: 'customer_id', type: 'long', optional: false } : column));
    const wide = customersAvroSchema(columns);
    const avro = anAvroDecoder(() => registered(wide));
    const result = avro(framedAvro(SCHEMA_ID, wide, anInsert(aCustomerRow({ customer_id: 9007199254740993n as unknown as number }))), NOW);
    expect(result).toMatchObject({ kind: 'change', change: { key: { type: 'customer_id', value: '9007199254740993' } } });
  });

  it('reads a writer schema with a column added and one with a column dropped', () => {
    const added = customersAvroSchema([...customersAvroColumns(), { name: 'nickname', type: 'string' }]);
    const dropped = customersAvroSchema(customersAvroColumns().filter((column) => column.name !== 'tier'));
    const avro = anAvroDecoder((id) => (id === 1 ? registered(added, 1) : registered(dropped, 2)));
    expect(avro(framedAvro(1, added, anInsert(aCustomerRow({ nickname: 'A' }))), NOW)).toMatchObject({ kind: 'change', change: { patch: { member_level: 'gold' } } });
    const withoutTier = avro(framedAvro(2, dropped, anInsert()), NOW);
    expect(withoutTier.kind).toBe('change');
    expect(withoutTier.kind === 'change' && 'member_level' in withoutTier.change.patch).toBe(false);
  });

  it('skips a tombstone', () => {
    expect(sut(null, NOW)).toEqual({ kind: 'skip', reason: 'tombstone (null value)' });
  });

  it('dead-letters a message without the magic byte at stage decode', () => {
    expect(sut(toMessage(anInsert()), NOW)).toEqual({
      kind: 'error',
      stage: 'decode',
      errorClass: 'InvalidFrame',
      message: 'message does not start with the Schema Registry magic byte 0 (found 123)',
    });
  });

  it('dead-letters a message shorter than the frame header', () => {
    expect(sut(Buffer.from([0, 0, 0]), NOW)).toEqual({
      kind: 'error',
      stage: 'decode',
      errorClass: 'InvalidFrame',
      message: 'message is 3 bytes, shorter than a Schema Registry frame (5 bytes of header)',
    });
  });

  it('dead-letters a schema id the registry says does not exist, naming the id', () => {
    const avro = anAvroDecoder(() => 'missing');
    expect(avro(framedAvro(99, schema, anInsert()), NOW)).toEqual({
      kind: 'error',
      stage: 'decode',
      errorClass: 'UnknownSchema',
      message: 'schema id 99 does not exist in the Schema Registry (404, error code 40403)',
      schemaId: 99,
    });
  });

  it('dead-letters bytes that do not decode with their writer schema', () => {
    const other = { type: 'record', name: 'Other', fields: [{ name: 'n', type: 'long' }] };
    const avro = anAvroDecoder((id) => (id === 1 ? registered(other, 1) : registered(schema)));
    const result = avro(frame(1, toAvro(schema, anInsert())), NOW);
    expect(result).toMatchObject({ kind: 'error', stage: 'decode', errorClass: 'SchemaMismatch', schemaId: 1 });
    expect(result.kind === 'error' && result.message).toMatch(/^bytes do not decode with writer schema id 1: /);
  });

  it('dead-letters a JSON Schema id on an Avro topic', () => {
    const avro = anAvroDecoder(() => registered({ type: 'object' }, 3, 'JSON'));
    expect(avro(frame(3, Buffer.from('{}')), NOW)).toEqual({
      kind: 'error',
      stage: 'decode',
      errorClass: 'SchemaMismatch',
      message: 'schema id 3 is a JSON schema; this topic reads AVRO',
      schemaId: 3,
    });
  });

  it('throws (the batch is retried, nothing dead-lettered) for a schema not fetched for its batch', () => {
    const avro = anAvroDecoder(() => undefined);
    expect(() => avro(framedAvro(5, schema, anInsert()), NOW)).toThrow(SchemaNotLoadedError);
  });
});

describe('debezium-json-sr (Confluent wire format, JSON)', () => {
  const mapping = customersMapping();
  const sut = createFramedDecoder('json', 1024 * 1024, { json: createDebeziumDecoder(mapping, options) })(() => registered({ type: 'object' }, 4, 'JSON'));

  it('decodes the framed JSON body as the JSON path decodes the same bytes unframed', () => {
    const body = toMessage(anInsert());
    expect(sut(frame(4, body), NOW)).toEqual(createDebeziumDecoder(mapping, options)(body, NOW));
  });

  it('adds the schema id to an error of the body', () => {
    expect(sut(frame(4, Buffer.from('{"op":')), NOW)).toMatchObject({ kind: 'error', stage: 'decode', errorClass: 'InvalidJson', schemaId: 4 });
  });
});
