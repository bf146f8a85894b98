import { createDebeziumDecoder, decodeDebezium } from '../../../src/ingest/decoders/debezium.decoder';
import type { DebeziumMapping } from '../../../src/ingest/decoders/debezium-mapping';
import type { DecodeResult, Decoder } from '../../../src/ingest/decoders/decode-result';
import {
  SOURCE_TS_MS,
  aCustomerRow,
  aDebeziumEvent,
  aDelete,
  aSnapshotRead,
  aSource,
  anInsert,
  anUpdate,
  customersMapping,
  exampleMappingJson,
  toMessage,
  withSchema,
} from './debezium.factory';

const options = { defaultPhoneRegion: 'TW', maxMessageBytes: 1024 * 1024, maxFutureSkewMs: 86_400_000 };

/** The service clock during these examples: a few days after SOURCE_TS_MS. */
const NOW = SOURCE_TS_MS + 3 * 86_400_000;

/** A decoder at the clock time NOW. */
const at = (decoder: Decoder) => (value: Buffer | null) => decoder(value, NOW);

/** Every mapped field of aCustomerRow() under the example mapping (customer_id is the key). */
const FULL_PATCH = {
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
};

const KEY = { type: 'customer_id', value: 'C-1001' };

function change(patch: Record<string, unknown>, key: Record<string, string> = KEY): DecodeResult {
  return { kind: 'change', change: { key, patch, sourceTs: SOURCE_TS_MS } } as unknown as DecodeResult;
}

describe(decodeDebezium.name, () => {
  let mapping: DebeziumMapping;
  let sut: (value: Buffer | null) => DecodeResult;

  beforeEach(() => {
    mapping = customersMapping();
    sut = at(createDebeziumDecoder(mapping, options));
  });

  describe.each([
    ['without the schema wrapper', (e: ReturnType<typeof aDebeziumEvent>) => toMessage(e)],
    ['with the schema wrapper', (e: ReturnType<typeof aDebeziumEvent>) => toMessage(withSchema(e))],
  ])('%s', (_, message) => {
    it('turns an insert into every mapped column, converted and normalised, keyed by the first key column', () => {
      expect(sut(message(anInsert()))).toEqual(change(FULL_PATCH));
    });

    it('treats a snapshot read like an insert, marked as a snapshot read', () => {
      const expected = change(FULL_PATCH) as unknown as { kind: 'change'; change: Record<string, unknown> };
      expect(sut(message(aSnapshotRead()))).toEqual({ ...expected, change: { ...expected.change, snapshot: true } });
    });

    it('sends only the changed mapped columns of an update whose before is complete', () => {
      const before = aCustomerRow();
      const after = aCustomerRow({ email: 'amy.lin@example.com', points: 150, created_at: 1 });

      expect(sut(message(anUpdate(before, after)))).toEqual(change({ display_email: 'amy.lin@example.com', cl_custom_points: 150 }));
    });

    it('sends a column set to null in an update as null', () => {
      expect(sut(message(anUpdate(aCustomerRow(), aCustomerRow({ mobile: null }))))).toEqual(change({ display_mobile: null }));
    });

    it('sends every mapped column of after when before is missing or partial', () => {
      expect(sut(message(anUpdate(null, aCustomerRow())))).toEqual(change(FULL_PATCH));
      expect(sut(message(anUpdate({ customer_id: 'C-1001', email: 'old@example.com' }, aCustomerRow())))).toEqual(change(FULL_PATCH));
    });

    it('skips an update that changes no mapped column', () => {
      const result = sut(message(anUpdate(aCustomerRow(), aCustomerRow({ created_at: 5 }))));

      expect(result).toEqual({ kind: 'skip', reason: 'no mapped column changed' });
    });

    it('skips a delete under delete_policy ignore', () => {
      expect(sut(message(aDelete(aCustomerRow())))).toEqual({ kind: 'skip', reason: 'delete ignored (delete_policy ignore)' });
    });

    it('clears every mapped field but the key columns under delete_policy clear, keyed from before', () => {
      const decode = at(createDebeziumDecoder(customersMapping({ delete_policy: 'clear' }), options));

      expect(decode(message(aDelete({ customer_id: 'C-1001' })))).toEqual(
        change({
          cl_custom_first_name: null,
          cl_custom_last_name: null,
          birthday: null,
          gender: null,
          member_level: null,
          cl_custom_points: null,
          cl_custom_opt_in_sms: null,
          cl_custom_crm_updated_at: null,
          display_mobile: null,
        }),
      );
    });

    it('dead-letters a delete under delete_policy dead-letter', () => {
      const decode = at(createDebeziumDecoder(customersMapping({ delete_policy: 'dead-letter' }), options));

      expect(decode(message(aDelete(aCustomerRow())))).toEqual({
        kind: 'error',
        stage: 'validate',
        errorClass: 'DeleteRejected',
        message: 'deletes are dead-lettered by customers.mapping.json (delete_policy dead-letter)',
      });
    });

    it('falls back to the next key column when the first is null, and sends the key field once', () => {
      const result = sut(message(anInsert(aCustomerRow({ customer_id: null }))));

      const { display_email: _, ...rest } = FULL_PATCH;
      expect(result).toEqual(change({ ...rest, customer_id: null }, { type: 'display_email', value: 'amy@example.com' }));
    });

    it('is an error as a whole when one value is invalid', () => {
      const result = sut(message(anInsert(aCustomerRow({ mobile: '0912-34', email: 'amy@' }))));

      expect(result).toEqual({
        kind: 'error',
        stage: 'validate',
        errorClass: 'InvalidField',
        message: 'email -> display_email: is not an e-mail address; mobile -> display_mobile: is not a valid phone number (default region TW)',
      });
    });
  });

  it('converts DATE days by the schema logical type when the mapping says auto', () => {
    const decode = at(createDebeziumDecoder(customersMapping({ fields: { birthday: 'birthday' } }), options));

    expect(decode(toMessage(withSchema(anInsert())))).toEqual(change({ birthday: '1990-04-01' }));
  });

  it('leaves DATE days as a number without the schema when the mapping says auto, which the field rules reject', () => {
    const decode = at(createDebeziumDecoder(customersMapping({ fields: { birthday: 'birthday' } }), options));

    expect(decode(toMessage(anInsert()))).toEqual({
      kind: 'error',
      stage: 'validate',
      errorClass: 'InvalidField',
      message:
        'birthday -> birthday: must be a real date written YYYY-MM-DD; an integer here looks like days since 1970 (a Debezium DATE): ' +
        'add "convert": "date" to column birthday in the mapping',
    });
  });

  it('reports once each key or mapped column the events lack, with the column it most likely means', () => {
    const absent: unknown[] = [];
    const typos = customersMapping({
      keys: [{ column: 'customer_no', type: 'customer_id' }, { column: 'email', type: 'display_email' }],
      fields: { e_mail: 'display_email', tier: 'member_level', nickname: 'display_name' },
    });
    const decode = at(createDebeziumDecoder(typos, { ...options, onAbsentColumn: (column) => absent.push(column) }));

    expect(decode(toMessage(anInsert()))).toEqual(change({ member_level: 'Gold' }, { type: 'display_email', value: 'amy@example.com' }));
    decode(toMessage(anInsert()));

    expect(absent).toEqual([
      { column: 'customer_no', role: 'key', suggestion: 'customer_id' },
      { column: 'e_mail', role: 'mapped', suggestion: 'email' },
      { column: 'nickname', role: 'mapped' },
    ]);
  });

  it('turns numbers bound for text fields into text, and uses them as keys', () => {
    const decode = at(createDebeziumDecoder(
      customersMapping({ keys: [{ column: 'id', type: 'customer_id' }], fields: { id: 'customer_id', phone: 'display_mobile', crm_code: 'company' } }),
      options,
    ));

    const result = decode(toMessage(anInsert({ id: 1001, phone: 886912345678, crm_code: 7 })));

    expect(result).toEqual(change({ display_mobile: '+886912345678', company: '7' }, { type: 'customer_id', value: '1001' }));
  });

  it('skips tombstones, with or without the wrapper', () => {
    expect(sut(null)).toEqual({ kind: 'skip', reason: 'tombstone (null value)' });
    expect(sut(toMessage(withSchema(null)))).toEqual({ kind: 'skip', reason: 'tombstone (null payload)' });
  });

  it('skips truncate and message events', () => {
    expect(sut(toMessage(aDebeziumEvent({ op: 't', before: null, after: null })))).toEqual({
      kind: 'skip',
      reason: 'op "t" carries no row change',
    });
  });

  it('falls back to the envelope ts_ms when source.ts_ms is absent', () => {
    const result = sut(toMessage(aDebeziumEvent({ source: aSource({ ts_ms: undefined }), ts_ms: SOURCE_TS_MS + 333 })));

    expect(result.kind === 'change' && result.change.sourceTs).toBe(SOURCE_TS_MS + 333);
  });

  it('treats a column carrying the unavailable-value placeholder as absent', () => {
    const result = sut(toMessage(anUpdate(null, { customer_id: 'C-1001', first_name: '__debezium_unavailable_value', points: 5 })));

    expect(result).toEqual(change({ cl_custom_points: 5 }));
  });

  it('ignores unmapped columns, even ones named like Object members', () => {
    const result = sut(toMessage(anInsert({ customer_id: 'C-1001', constructor: 'x', toString: 1, points: 1 })));

    expect(result).toEqual(change({ cl_custom_points: 1 }));
  });

  it('reuses the decoder built for the same mapping and options objects', () => {
    expect(decodeDebezium(toMessage(anInsert()), NOW, mapping, options)).toEqual(change(FULL_PATCH));
  });

  describe('malformed input', () => {
    const error = (stage: string, errorClass: string, message: string) => ({ kind: 'error', stage, errorClass, message });

    it.each([
      ['invalid JSON', Buffer.from('{"op":"c",'), error('decode', 'InvalidJson', expect.stringMatching(/^message is not JSON: /) as unknown as string)],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), error('decode', 'InvalidUtf8', 'message is not valid UTF-8')],
      ['a JSON array', toMessage([1]), error('validate', 'InvalidEnvelope', 'the event must be a JSON object')],
      ['no op', toMessage({ ...aDebeziumEvent(), op: undefined }), error('validate', 'InvalidEnvelope', '"op" is missing or not a string')],
      ['an unknown op', toMessage(aDebeziumEvent({ op: 'x' })), error('validate', 'InvalidEnvelope', 'unknown op "x"')],
      ['after of a wrong type', toMessage({ ...aDebeziumEvent(), after: 'row' }), error('validate', 'InvalidEnvelope', '"after" must be an object or null')],
      ['an insert without after', toMessage(aDebeziumEvent({ after: null })), error('validate', 'InvalidEnvelope', 'op "c" without "after"')],
      [
        'no source time',
        toMessage({ ...aDebeziumEvent({ source: aSource({ ts_ms: 'late' }) }), ts_ms: undefined }),
        error('validate', 'InvalidEnvelope', '"source.ts_ms" is missing or not a number'),
      ],
      [
        'no key',
        toMessage(anInsert(aCustomerRow({ customer_id: null, email: null }))),
        error('validate', 'InvalidKey', 'no key column has a value (customer_id, email)'),
      ],
      [
        'a __proto__ key',
        Buffer.from('{"op":"c","source":{"ts_ms":1},"after":{"customer_id":"C-1","__proto__":{"polluted":true}}}'),
        error('validate', 'ForbiddenKey', 'key "__proto__" is not allowed (at /after)'),
      ],
      [
        'deeply nested values',
        toMessage(anInsert(aCustomerRow({ tags: JSON.parse('['.repeat(50) + ']'.repeat(50)) as unknown }))),
        error('decode', 'NestingTooDeep', 'values nest deeper than 10 levels (at /after/tags/0/0/0/0/0/0/0/0)'),
      ],
      ['a boolean for a custom field without conversion', toMessage(anInsert({ customer_id: 'C-1', points: true })), error('validate', 'InvalidField', 'points -> cl_custom_points: must be a string or a number')],
    ])('rejects %s', (_, value, expected) => {
      expect(sut(value)).toEqual(expected);
    });

    it('rejects an oversized message before reading it', () => {
      const decode = at(createDebeziumDecoder(mapping, { defaultPhoneRegion: 'TW', maxMessageBytes: 100, maxFutureSkewMs: 86_400_000 }));

      expect(decode(toMessage(anInsert()))).toEqual({
        kind: 'error',
        stage: 'decode',
        errorClass: 'MessageTooLarge',
        message: `message is ${toMessage(anInsert()).length} bytes, over the limit of 100`,
      });
    });

    it('never pollutes Object.prototype', () => {
      sut(Buffer.from('{"op":"c","source":{"ts_ms":1},"after":{"customer_id":"C-1","points":1,"constructor":{"prototype":{"polluted":true}}}}'));

      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('text Postgres cannot store', () => {
    /** The event's JSON text with `"PLACE"` replaced by raw JSON text, as a connector writes it. */
    const raw = (event: unknown, json: string) => Buffer.from(JSON.stringify(event).replace('"PLACE"', json));

    it('rejects U+0000 in a mapped column, naming the column and the character', () => {
      const result = sut(raw(anInsert(aCustomerRow({ first_name: 'PLACE' })), '"Amy\\u0000"'));

      expect(result).toEqual({
        kind: 'error',
        stage: 'validate',
        errorClass: 'InvalidField',
        message: 'first_name -> cl_custom_first_name: must not contain control characters other than tab and line breaks (found U+0000)',
      });
    });

    it('rejects a lone surrogate in a key column', () => {
      const result = sut(raw(anInsert(aCustomerRow({ customer_id: 'PLACE' })), '"C-1001\\ud800"'));

      expect(result).toEqual({
        kind: 'error',
        stage: 'validate',
        errorClass: 'InvalidKey',
        message: 'key column customer_id (customer_id): must not contain a lone surrogate, which is not Unicode text (found U+D800)',
      });
    });

    it('ignores such text in a column that is not mapped, as it is never stored', () => {
      expect(sut(raw(anInsert(aCustomerRow({ notes: 'PLACE' })), '"a\\u0000b"'))).toEqual(change(FULL_PATCH));
    });
  });

  describe('source times', () => {
    const timeError = (message: string) => ({ kind: 'error', stage: 'validate', errorClass: 'InvalidSourceTime', message });

    it.each([
      ['fractional', SOURCE_TS_MS + 0.5, `source.ts_ms: must be a whole number of milliseconds since the epoch, got ${SOURCE_TS_MS + 0.5}`],
      ['huge', 1e20, 'source.ts_ms: must be a whole number of milliseconds since the epoch, got 100000000000000000000'],
      ['in seconds', 1_764_324_930, 'source.ts_ms: is 1764324930 ms since the epoch, before 2000-01-01 (seconds instead of milliseconds?)'],
      [
        'more than MAX_FUTURE_SKEW_MS ahead',
        NOW + 86_400_001,
        `source.ts_ms: is ${NOW + 86_400_001} ms since the epoch, more than 86400000 ms (MAX_FUTURE_SKEW_MS) ahead of this service's clock (${new Date(NOW).toISOString()})`,
      ],
    ])('rejects a %s source.ts_ms', (_, ts, message) => {
      expect(sut(toMessage(aDebeziumEvent({ source: aSource({ ts_ms: ts }) })))).toEqual(timeError(message));
    });

    it('checks the envelope ts_ms when it is the one used', () => {
      const result = sut(toMessage(aDebeziumEvent({ source: aSource({ ts_ms: null }), ts_ms: 1e20 })));

      expect(result).toEqual(timeError('source.ts_ms: must be a whole number of milliseconds since the epoch, got 100000000000000000000'));
    });

    it('rejects a far-future snapshot read, which would otherwise lift the snapshot floor for good', () => {
      const result = sut(toMessage(aDebeziumEvent({ op: 'r', source: aSource({ snapshot: 'true', ts_ms: 253_402_300_799_000 }) })));

      expect(result).toMatchObject({ kind: 'error', errorClass: 'InvalidSourceTime' });
    });

    it("reads a snapshot read's time 0 (older connectors) as the envelope's ts_ms", () => {
      const result = sut(toMessage(aDebeziumEvent({ op: 'r', source: aSource({ snapshot: 'true', ts_ms: 0 }) })));

      expect(result.kind === 'change' && [result.change.sourceTs, result.change.snapshot]).toEqual([SOURCE_TS_MS + 333, true]);
    });
  });

  describe('numbers a double cannot hold', () => {
    const byId = customersMapping({
      keys: [{ column: 'id', type: 'customer_id' }],
      fields: { id: 'customer_id', points: 'custom.points', ref: { field: 'custom.ref', convert: 'string' }, code: 'company' },
    });
    const decode = at(createDebeziumDecoder(byId, options));
    /** An event whose numbers are written as JSON text, digits beyond what a double holds. */
    const rawInsert = (row: string) => Buffer.from(JSON.stringify(anInsert({ PLACE: 1 })).replace('{"PLACE":1}', row));

    it('keeps every digit of an integer key beyond 2^53, so two customers stay two contacts', () => {
      const first = decode(rawInsert('{"id":9007199254740993,"points":1}'));
      const second = decode(rawInsert('{"id":9007199254740992,"points":1}'));

      expect([first, second]).toEqual([
        change({ cl_custom_points: 1 }, { type: 'customer_id', value: '9007199254740993' }),
        change({ cl_custom_points: 1 }, { type: 'customer_id', value: '9007199254740992' }),
      ]);
    });

    it('keeps every digit of a key column that is not mapped as a field', () => {
      const onlyKey = at(createDebeziumDecoder(customersMapping({ keys: [{ column: 'id', type: 'customer_id' }], fields: { points: 'custom.points' } }), options));

      expect(onlyKey(rawInsert('{"id":-12345678901234567890,"points":1}'))).toEqual(
        change({ cl_custom_points: 1 }, { type: 'customer_id', value: '-12345678901234567890' }),
      );
    });

    it('keeps every digit for a text field and under convert string', () => {
      expect(decode(rawInsert('{"id":1,"ref":123456789012345678901,"code":9007199254740993}'))).toEqual(
        change({ cl_custom_ref: '123456789012345678901', company: '9007199254740993' }, { type: 'customer_id', value: '1' }),
      );
    });

    it('dead-letters one bound for a number field, saying how to map it', () => {
      expect(decode(rawInsert('{"id":1,"points":9007199254740993}'))).toEqual({
        kind: 'error',
        stage: 'validate',
        errorClass: 'InvalidField',
        message:
          'points -> cl_custom_points: is a number a JSON number cannot carry exactly (an integer beyond 2^53, or more than 15 significant digits); ' +
          'map it to a text field or with "convert": "string" in the mapping, or have the connector send it as text (decimal.handling.mode=string for decimals)',
      });
    });

    it('sees a change between two integers that JSON.parse rounds alike', () => {
      const before = '{"id":1,"points":1,"ref":9007199254740992,"code":"x"}';
      const after = '{"id":1,"points":1,"ref":9007199254740993,"code":"x"}';
      const event = JSON.stringify(anUpdate({ PLACE: 1 }, { PLACE: 2 })).replace('{"PLACE":1}', before).replace('{"PLACE":2}', after);

      expect(decode(Buffer.from(event))).toEqual(change({ cl_custom_ref: '9007199254740993' }, { type: 'customer_id', value: '1' }));
    });
  });

  describe('Kafka Connect decimals', () => {
    const decimalsMapping = customersMapping({
      fields: { price: 'custom.price', price_label: 'company', ratio: 'custom.ratio', big: 'custom.big', big_text: { field: 'custom.big_text', convert: 'string' } },
    });
    const decode = at(createDebeziumDecoder(decimalsMapping, options));
    const decimal = (field: string, scale: number) => ({
      type: 'bytes',
      optional: true,
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: String(scale), 'connect.decimal.precision': '30' },
      field,
    });
    const variableScale = (field: string) => ({
      type: 'struct',
      fields: [
        { type: 'int32', optional: false, field: 'scale' },
        { type: 'bytes', optional: false, field: 'value' },
      ],
      optional: true,
      name: 'io.debezium.data.VariableScaleDecimal',
      version: 1,
      field,
    });
    const schema = {
      type: 'struct',
      fields: [
        {
          type: 'struct',
          fields: [{ type: 'string', optional: false, field: 'customer_id' }, decimal('price', 2), decimal('price_label', 2), variableScale('ratio'), decimal('big', 0), decimal('big_text', 0)],
          optional: true,
          field: 'after',
        },
      ],
    };
    /** Big-endian two's complement, as Kafka Connect writes a decimal's unscaled value. */
    const bytes = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

    it('decodes bytes and scale into the exact number, for number and text fields', () => {
      const row = { customer_id: 'C-1', price: bytes('3039'), price_label: bytes('fb2e'), ratio: { scale: 3, value: bytes('12d687') } };

      expect(decode(toMessage({ schema, payload: anInsert(row) }))).toEqual(
        change({ cl_custom_price: 123.45, company: '-12.34', cl_custom_ratio: 1234.567 }, { type: 'customer_id', value: 'C-1' }),
      );
    });

    it('keeps a decimal a double would round as text, and dead-letters it for a number field', () => {
      // 2^64 + 1 = 18446744073709551617
      const unscaled = bytes('010000000000000001');

      expect(decode(toMessage({ schema, payload: anInsert({ customer_id: 'C-1', big_text: unscaled }) }))).toEqual(
        change({ cl_custom_big_text: '18446744073709551617' }, { type: 'customer_id', value: 'C-1' }),
      );
      expect(decode(toMessage({ schema, payload: anInsert({ customer_id: 'C-1', big: unscaled }) }))).toMatchObject({
        kind: 'error',
        errorClass: 'InvalidField',
        message: expect.stringMatching(/^big -> cl_custom_big: is a number a JSON number cannot carry exactly/) as unknown,
      });
    });

    it('rejects a decimal that is not bytes', () => {
      expect(decode(toMessage({ schema, payload: anInsert({ customer_id: 'C-1', price: 12.5 }) }))).toEqual({
        kind: 'error',
        stage: 'validate',
        errorClass: 'InvalidField',
        message: 'price -> cl_custom_price: is not a decimal (base64 bytes, at most 128, and a scale)',
      });
    });
  });

  describe('an update that changes the contact key', () => {
    const emailKeyed = (overrides: Record<string, unknown> = {}) => aCustomerRow({ customer_id: null, ...overrides });
    const { display_email: _email, ...fullPatchButEmail } = FULL_PATCH;

    it('sends the whole mapped row under the new e-mail when the e-mail of an e-mail-keyed row changes', () => {
      const result = sut(toMessage(anUpdate(emailKeyed(), emailKeyed({ email: 'amy.lin@example.com' }))));

      expect(result).toEqual({
        kind: 'change',
        change: {
          key: { type: 'display_email', value: 'amy.lin@example.com' },
          patch: { ...fullPatchButEmail, customer_id: null },
          sourceTs: SOURCE_TS_MS,
          keyChanged: { from: 'display_email' },
        },
      });
    });

    it('sends the whole mapped row under a customer_id assigned later', () => {
      const result = sut(toMessage(anUpdate(emailKeyed(), aCustomerRow())));

      expect(result).toEqual({ kind: 'change', change: { key: KEY, patch: FULL_PATCH, sourceTs: SOURCE_TS_MS, keyChanged: { from: 'display_email' } } });
    });

    it('marks a row that had no usable key before', () => {
      const result = sut(toMessage(anUpdate(emailKeyed({ email: null }), aCustomerRow())));

      expect(result.kind === 'change' && result.change.keyChanged).toEqual({ from: null });
    });

    it('is not a key change when only the spelling of the key changes, or when before does not carry the key', () => {
      expect(sut(toMessage(anUpdate(emailKeyed({ email: 'AMY@example.com' }), emailKeyed())))).toEqual({ kind: 'skip', reason: 'no mapped field to send' });
      expect(sut(toMessage(anUpdate({ first_name: 'Amy' }, aCustomerRow())))).toEqual(change(FULL_PATCH));
      expect(sut(toMessage(anUpdate(null, aCustomerRow())))).toEqual(change(FULL_PATCH));
    });
  });

    it('ships an example mapping that parses', () => {
    expect(exampleMappingJson().delete_policy).toBe('ignore');
    expect(mapping.keys).toEqual([
      { column: 'customer_id', type: 'customer_id' },
      { column: 'email', type: 'display_email' },
    ]);
  });
});
