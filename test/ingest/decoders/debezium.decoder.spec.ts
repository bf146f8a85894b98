import { createDebeziumDecoder, decodeDebezium } from '../../../src/ingest/decoders/debezium.decoder';
import type { DebeziumMapping } from '../../../src/ingest/decoders/debezium-mapping';
import type { DecodeResult } from '../../../src/ingest/decoders/decode-result';
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

const options = { defaultPhoneRegion: 'TW', maxMessageBytes: 1024 * 1024 };

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
    sut = createDebeziumDecoder(mapping, options);
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
      const decode = createDebeziumDecoder(customersMapping({ delete_policy: 'clear' }), options);

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
      const decode = createDebeziumDecoder(customersMapping({ delete_policy: 'dead-letter' }), options);

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
    const decode = createDebeziumDecoder(customersMapping({ fields: { birthday: 'birthday' } }), options);

    expect(decode(toMessage(withSchema(anInsert())))).toEqual(change({ birthday: '1990-04-01' }));
  });

  it('leaves DATE days as a number without the schema when the mapping says auto, which the field rules reject', () => {
    const decode = createDebeziumDecoder(customersMapping({ fields: { birthday: 'birthday' } }), options);

    expect(decode(toMessage(anInsert()))).toEqual({
      kind: 'error',
      stage: 'validate',
      errorClass: 'InvalidField',
      message: 'birthday -> birthday: must be a real date written YYYY-MM-DD',
    });
  });

  it('turns numbers bound for text fields into text, and uses them as keys', () => {
    const decode = createDebeziumDecoder(
      customersMapping({ keys: [{ column: 'id', type: 'customer_id' }], fields: { id: 'customer_id', phone: 'display_mobile', crm_code: 'company' } }),
      options,
    );

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
    const result = sut(toMessage(aDebeziumEvent({ source: aSource({ ts_ms: undefined }), ts_ms: 1_000 })));

    expect(result.kind === 'change' && result.change.sourceTs).toBe(1_000);
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
    expect(decodeDebezium(toMessage(anInsert()), mapping, options)).toEqual(change(FULL_PATCH));
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
      const decode = createDebeziumDecoder(mapping, { defaultPhoneRegion: 'TW', maxMessageBytes: 100 });

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

  it('ships an example mapping that parses', () => {
    expect(exampleMappingJson().delete_policy).toBe('ignore');
    expect(mapping.keys).toEqual([
      { column: 'customer_id', type: 'customer_id' },
      { column: 'email', type: 'display_email' },
    ]);
  });
});
