import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { debeziumCustomerEvents } from '../../../bench/debezium-customer-events';
import type { DebeziumStreamSummary } from '../../../bench/debezium-customer-events';
import { decodeError } from '../../../src/ingest/decoders/decode-result';
import type { DecodeResult, Decoder } from '../../../src/ingest/decoders/decode-result';
import { createDebeziumDecoder } from '../../../src/ingest/decoders/debezium.decoder';
import { parseDebeziumMapping } from '../../../src/ingest/decoders/debezium-mapping';
import type { DebeziumMapping } from '../../../src/ingest/decoders/debezium-mapping';
import { aCustomerRow, aDelete, anInsert, anUpdate, customersEnvelopeSchema, customersMapping } from './debezium.factory';

/**
 * An event in the JSON converter's exact layout has only its payload parsed once its schema text
 * has been seen; these examples hold that path to the whole-document reading, result for result.
 */
const options = { defaultPhoneRegion: 'TW', maxMessageBytes: 1024 * 1024, maxFutureSkewMs: 86_400_000 };

/** The generator's events start on 2026-11-02; the fixtures' on 2025-11-28. */
const GENERATOR_NOW = Date.parse('2026-11-03T00:00:00Z');
const FIXTURE_NOW = Date.parse('2025-12-01T00:00:00Z');

const SHIPPED_MAPPING_FILE = join(__dirname, '../../../config/customers.mapping.json');

const byId = customersMapping({
  keys: [{ column: 'id', type: 'customer_id' }],
  fields: { id: 'customer_id', points: 'custom.points', ref: { field: 'custom.ref', convert: 'string' }, code: 'company' },
});

const decimals = customersMapping({ fields: { price: 'custom.price', price_label: 'company', big_text: { field: 'custom.big_text', convert: 'string' } } });

const decimalSchema = {
  type: 'struct',
  fields: [
    {
      type: 'struct',
      fields: [
        { type: 'string', optional: false, field: 'customer_id' },
        { type: 'bytes', optional: true, name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters: { scale: '2' }, field: 'price' },
        { type: 'bytes', optional: true, name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters: { scale: '2' }, field: 'price_label' },
        { type: 'bytes', optional: true, name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters: { scale: '0' }, field: 'big_text' },
      ],
      optional: true,
      field: 'after',
    },
  ],
};

const bytes = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/** Two decoders of one mapping: one fed the events as they are, one fed them off the converter's layout. */
function pair(mapping: DebeziumMapping, now: number) {
  const fast = createDebeziumDecoder(mapping, options);
  const whole = createDebeziumDecoder(mapping, options);
  return {
    decode: (text: string): DecodeResult => fast(Buffer.from(text), now),
    /** What the whole-document path gives for `text`. */
    expected: (text: string): DecodeResult => reference(whole, text, now),
  };
}

/**
 * A leading space keeps an event off the converter's layout and leaves its meaning alone. Only a
 * JSON syntax error's message tells the two texts apart (it names a position), so that one is
 * taken from JSON.parse of the text itself, as the whole-document path words it.
 */
function reference(decoder: Decoder, text: string, now: number): DecodeResult {
  const result = decoder(Buffer.from(' ' + text), now);
  if (result.kind !== 'error' || result.errorClass !== 'InvalidJson') return result;
  try {
    JSON.parse(text);
  } catch (error) {
    return decodeError('decode', 'InvalidJson', `message is not JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  throw new Error('the text parses alone but not after a space');
}

const wrapped = (payload: unknown, schema: unknown = customersEnvelopeSchema()) => JSON.stringify({ schema, payload });

describe(`${createDebeziumDecoder.name} on the JSON converter's layout`, () => {
  it.each([
    ['config/customers.mapping.json', parseDebeziumMapping(JSON.parse(readFileSync(SHIPPED_MAPPING_FILE, 'utf8')), 'customers.mapping.json')],
    ['the fixture mapping, deletes cleared', customersMapping({ delete_policy: 'clear' })],
    ['the fixture mapping, deletes dead-lettered', customersMapping({ delete_policy: 'dead-letter' })],
  ])('decodes the generated stream exactly as the whole document, under %s', (_, mapping) => {
    const sut = pair(mapping, GENERATOR_NOW);
    const summary = {} as DebeziumStreamSummary;
    const kinds: Record<string, number> = {};
    const differences: Array<{ event: number; result: DecodeResult; expected: DecodeResult }> = [];

    let event = 0;
    for (const { value } of debeziumCustomerEvents(4_000, 600, 'crm.public.customers', summary)) {
      if (value === null) continue;
      const result = sut.decode(value);
      const expected = sut.expected(value);
      kinds[result.kind] = (kinds[result.kind] ?? 0) + 1;
      // Compared one by one: a single toEqual over thousands of results is slow to run and to read.
      if (!isDeepStrictEqual(result, expected)) differences.push({ event, result, expected });
      event++;
    }

    expect(differences).toEqual([]);
    expect(summary.deletes * summary.creates).toBeGreaterThan(0);
    expect(kinds.change).toBeGreaterThan(3_000);
  });

  it('parses a schema text once, then only the payloads', () => {
    const sut = pair(customersMapping(), FIXTURE_NOW);
    const events = [anInsert(), anUpdate(aCustomerRow(), aCustomerRow({ points: 7 })), anInsert(aCustomerRow({ customer_id: 'C-2' }))].map((e) => wrapped(e));
    const parse = jest.spyOn(JSON, 'parse');

    try {
      for (const event of events) sut.decode(event);

      const texts = parse.mock.calls.map(([text]) => text);
      expect(texts.filter((t) => t === JSON.stringify(customersEnvelopeSchema()))).toHaveLength(1);
      expect(texts.filter((t) => t.startsWith('{"schema"'))).toHaveLength(0);
      expect(texts.filter((t) => t.startsWith('{"before"'))).toHaveLength(3);
    } finally {
      parse.mockRestore();
    }
  });

  const deep = (levels: number) => JSON.parse('['.repeat(levels) + ']'.repeat(levels)) as unknown;
  const schema = customersEnvelopeSchema();
  const withinSchema = (extra: Record<string, unknown>) => ({ ...schema, fields: [{ ...schema.fields[0], ...extra }, ...schema.fields.slice(1)] });
  const insertText = wrapped(anInsert());
  const schemaEnd = insertText.indexOf(',"payload":');

  it.each<[string, string]>([
    ['an insert', insertText],
    ['an update', wrapped(anUpdate(aCustomerRow(), aCustomerRow({ email: 'amy.lin@example.com' })))],
    ['a delete', wrapped(aDelete(aCustomerRow()))],
    ['a wrapped tombstone ("payload":null)', wrapped(null)],
    ['a schema whose strings hold escaped quotes, braces and the payload key', wrapped(anInsert(), withinSchema({ doc: 'a "b" {c} [d] \\ ,"payload":{"op":"d"} \\"' }))],
    ['whitespace after the layout', insertText + ' '],
    ['a newline after the layout', insertText + '\n'],
    ['whitespace between the parts', insertText.replace(',"payload":', ', "payload": ')],
    ['keys in the other order', JSON.stringify({ payload: anInsert(), schema })],
    ['a payload key twice', insertText.slice(0, -1) + ',"payload":null}'],
    ['an op key twice in the payload', insertText.replace('"op":"c"', '"op":"x","op":"c"')],
    ['a schema cut short', insertText.slice(0, schemaEnd - 40)],
    ['a schema cut inside a string', insertText.slice(0, 60)],
    ['a schema missing a closing brace', insertText.slice(0, schemaEnd - 1) + insertText.slice(schemaEnd)],
    ['a schema with an extra closing bracket', insertText.replace('"fields":[', '"fields":]][')],
    ['a schema with a bare word', insertText.replace('"type":"struct"', '"type":struct')],
    ['a payload cut short', insertText.slice(0, -30)],
    ['a payload that is not JSON', insertText.replace('"op":"c"', '"op":c')],
    ['a __proto__ key inside the schema', insertText.replace('"field":"before"', '"field":"before","__proto__":{"polluted":true}')],
    ['a __proto__ key inside the schema and the payload', insertText.replace('"field":"before"', '"__proto__":1,"field":"before"').replace('"customer_id":"C-1001"', '"__proto__":1,"customer_id":"C-1001"')],
    ['a __proto__ key inside the payload', insertText.replace('"customer_id":"C-1001"', '"__proto__":{},"customer_id":"C-1001"')],
    ['nesting too deep inside the schema', wrapped(anInsert(), withinSchema({ doc: deep(12) }))],
    ['nesting too deep inside the schema, and a payload that is not JSON', JSON.stringify({ schema: withinSchema({ doc: deep(12) }), payload: anInsert() }).replace('"op":"c"', '"op":c')],
    ['nesting too deep inside the payload', wrapped(anInsert(aCustomerRow({ tags: deep(12) })))],
    ['a schema that is not an object', JSON.stringify({ schema: 'x', payload: anInsert() })],
    ['a payload that is not an object', '{"schema":{},"payload":[1]}'],
    ['an empty schema', wrapped(anInsert(), {})],
  ])('reads %s as the whole document does', (_, text) => {
    const sut = pair(customersMapping(), FIXTURE_NOW);

    // Twice: the second time the schema text, if it was valid, comes from the cache.
    expect([sut.decode(text), sut.decode(text)]).toEqual([sut.expected(text), sut.expected(text)]);
  });

  it('reads a message that is not UTF-8 or is too large as the whole document does', () => {
    const sut = createDebeziumDecoder(customersMapping(), options);
    const small = createDebeziumDecoder(customersMapping(), { ...options, maxMessageBytes: 2_000 });
    const bad = Buffer.concat([Buffer.from(insertText.slice(0, -20)), Buffer.from([0xff]), Buffer.from(insertText.slice(-20))]);

    sut(Buffer.from(insertText), FIXTURE_NOW);
    expect(sut(bad, FIXTURE_NOW)).toEqual(decodeError('decode', 'InvalidUtf8', 'message is not valid UTF-8'));
    // A cut multi-byte character where the payload starts: the schema's bytes match, the payload is not UTF-8.
    const cut = Buffer.concat([Buffer.from(insertText.slice(0, schemaEnd + 11)), Buffer.from([0xe5, 0x8f]), Buffer.from(insertText.slice(schemaEnd + 11))]);
    expect(sut(cut, FIXTURE_NOW)).toEqual(decodeError('decode', 'InvalidUtf8', 'message is not valid UTF-8'));
    expect(small(Buffer.from(insertText), FIXTURE_NOW)).toEqual(
      decodeError('decode', 'MessageTooLarge', `message is ${Buffer.byteLength(insertText)} bytes, over the limit of 2000`),
    );
  });

  it('reads integers beyond 2^53 from the raw text, as the whole document does', () => {
    const sut = pair(byId, FIXTURE_NOW);
    const raw = (payload: unknown, rows: Record<string, string>) => {
      let text = wrapped(payload);
      for (const [placeholder, row] of Object.entries(rows)) text = text.replace(placeholder, row);
      return text;
    };
    const events = [
      raw(anInsert({ PLACE: 1 }), { '{"PLACE":1}': '{"id":9007199254740993,"points":1}' }),
      raw(anInsert({ PLACE: 1 }), { '{"PLACE":1}': '{"id":1,"ref":123456789012345678901,"code":9007199254740993}' }),
      raw(anInsert({ PLACE: 1 }), { '{"PLACE":1}': '{"id":1,"points":9007199254740993}' }),
      raw(anUpdate({ PLACE: 1 }, { PLACE: 2 }), {
        '{"PLACE":1}': '{"id":1,"points":1,"ref":9007199254740992,"code":"x"}',
        '{"PLACE":2}': '{"id":1,"points":1,"ref":9007199254740993,"code":"x"}',
      }),
    ];

    const results = events.map((e) => sut.decode(e));

    expect(results).toEqual(events.map((e) => sut.expected(e)));
    expect(results.map((r) => (r.kind === 'change' ? r.change.key.value : r.kind))).toEqual(['9007199254740993', '1', 'error', '1']);
  });

  it('decodes Kafka Connect decimals by the cached schema, as the whole document does', () => {
    const sut = pair(decimals, FIXTURE_NOW);
    const events = [
      wrapped(anInsert({ customer_id: 'C-1', price: bytes('3039'), price_label: bytes('fb2e') }), decimalSchema),
      wrapped(anInsert({ customer_id: 'C-1', big_text: bytes('010000000000000001') }), decimalSchema),
      wrapped(anInsert({ customer_id: 'C-1', price: 12.5 }), decimalSchema),
      // The same row under a schema without the decimal types: the cache must not carry them over.
      wrapped(anInsert({ customer_id: 'C-1', price: bytes('3039') }), { ...decimalSchema, name: 'other' }),
      wrapped(anInsert({ customer_id: 'C-1', price: 12.5 }), { ...decimalSchema, fields: [] }),
    ];

    const results = events.map((e) => sut.decode(e));

    expect(results).toEqual(events.map((e) => sut.expected(e)));
    expect(results[0]).toMatchObject({ kind: 'change', change: { patch: { cl_custom_price: 123.45, company: '-12.34' } } });
    expect(results[4]).toMatchObject({ kind: 'change', change: { patch: { cl_custom_price: 12.5 } } });
  });

  it('stays exact over more schema versions than it keeps, in turn', () => {
    const sut = pair(customersMapping(), FIXTURE_NOW);
    const versions = Array.from({ length: 40 }, (_, v) => ({ ...customersEnvelopeSchema(), version: v }));
    const events = Array.from({ length: 200 }, (_, i) => wrapped(anInsert(aCustomerRow({ points: i })), versions[(i * 7) % versions.length]));

    expect(events.map((e) => sut.decode(e))).toEqual(events.map((e) => sut.expected(e)));
  });
});
