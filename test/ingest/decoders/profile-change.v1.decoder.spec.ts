import {
  PROFILE_CHANGE_V1_SCHEMA,
  createProfileChangeDecoder,
  decodeProfileChangeV1,
} from '../../../src/ingest/decoders/profile-change.v1.decoder';
import type { DecodeResult, Decoder } from '../../../src/ingest/decoders/decode-result';
import { aProfile, aProfileChange, toMessage } from './profile-change.v1.factory';

const options = { defaultPhoneRegion: 'TW', maxMessageBytes: 1024 * 1024, maxFutureSkewMs: 86_400_000 };
const OCCURRED_AT_MS = 1_795_860_930_123; // 2026-11-28T10:15:30.123Z

/** The service clock during these examples: an hour after the example's occurred_at. */
const NOW = OCCURRED_AT_MS + 3_600_000;

/** A decoder at the clock time NOW. */
const at = (decoder: Decoder) => (value: Buffer | null) => decoder(value, NOW);

function invalid(errorClass: string, message: string): DecodeResult {
  return { kind: 'error', stage: 'validate', errorClass, message } as DecodeResult;
}

describe(decodeProfileChangeV1.name, () => {
  const sut = at(createProfileChangeDecoder(options));

  it('decodes the documented example into a normalised flat patch', () => {
    expect(sut(toMessage(aProfileChange()))).toEqual({
      kind: 'change',
      change: {
        key: { type: 'customer_id', value: 'C-1001' },
        patch: {
          display_name: 'Amy Lin',
          display_email: 'amy@example.com',
          display_mobile: '+886912345678',
          birthday: '1990-04-01',
          gender: null,
          cl_custom_points: 120,
          cl_custom_tier: 'gold',
        },
        sourceTs: OCCURRED_AT_MS,
        eventId: '01JD8ZQ7N3X4Y5Z6A7B8C9D0EF',
      },
    });
  });

  it('reads occurred_at with any time zone and accepts a UUID event_id', () => {
    const result = sut(
      toMessage(aProfileChange({ occurred_at: '2026-11-28T18:15:30.123+08:00', event_id: '3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c' })),
    );

    expect(result.kind === 'change' && [result.change.sourceTs, result.change.eventId]).toEqual([
      OCCURRED_AT_MS,
      '3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c',
    ]);
  });

  it('normalises the key like the field: a mobile key in E.164, an e-mail key lower-cased', () => {
    const byMobile = sut(toMessage(aProfileChange({ key: { display_mobile: '0912 345 678' } })));
    const byEmail = sut(toMessage(aProfileChange({ key: { display_email: ' Amy@Example.com ' }, profile: { region: 'JP' } })));

    expect(byMobile.kind === 'change' && byMobile.change.key).toEqual({ type: 'display_mobile', value: '+886912345678' });
    expect(byMobile.kind === 'change' && 'display_mobile' in byMobile.change.patch).toBe(false);
    expect(byEmail).toEqual({
      kind: 'change',
      change: {
        key: { type: 'display_email', value: 'amy@example.com' },
        patch: { region: 'jp' },
        sourceTs: OCCURRED_AT_MS,
        eventId: '01JD8ZQ7N3X4Y5Z6A7B8C9D0EF',
      },
    });
  });

  it('skips a tombstone and an event whose profile sets nothing', () => {
    expect(sut(null)).toEqual({ kind: 'skip', reason: 'tombstone (null value)' });
    expect(sut(toMessage(aProfileChange({ profile: {} })))).toEqual({ kind: 'skip', reason: 'the profile sets no field' });
  });

  it('reuses the decoder built for the same options object', () => {
    expect(decodeProfileChangeV1(toMessage(aProfileChange()), NOW, options)).toEqual(sut(toMessage(aProfileChange())));
  });

  it('publishes a draft 2020-12 schema', () => {
    expect(PROFILE_CHANGE_V1_SCHEMA.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(String(PROFILE_CHANGE_V1_SCHEMA.$id).endsWith('profile-change.v1.json')).toBe(true);
  });

  describe('rejects the whole event', () => {
    it.each([
      ['no key', aProfileChange({ key: {} }), invalid('SchemaViolation', 'key: exactly one import key is required, got none')],
      [
        'several keys',
        aProfileChange({ key: { customer_id: 'C-1001', display_email: 'amy@example.com' } }),
        invalid('SchemaViolation', 'key: exactly one import key is required, got 2 (customer_id, display_email)'),
      ],
      ['an unknown key type', aProfileChange({ key: { member_id: 'M-1' } }), invalid('SchemaViolation', 'key.member_id: is not an import key')],
      ['a key of the wrong type', aProfileChange({ key: { customer_id: 1001 } }), invalid('SchemaViolation', 'key.customer_id: must be string')],
      ['a blank key', aProfileChange({ key: { customer_id: '  ' } }), invalid('InvalidKey', 'key.customer_id: must not be empty')],
      ['an invalid mobile key', aProfileChange({ key: { display_mobile: '12' } }), invalid('InvalidKey', 'key.display_mobile: is not a valid phone number (default region TW)')],
      ['a missing key', { ...aProfileChange(), key: undefined }, invalid('SchemaViolation', 'key: is required')],
      ['a missing event_id', { ...aProfileChange(), event_id: undefined }, invalid('SchemaViolation', 'event_id: is required')],
      ['an event_id that is no ULID or UUID', aProfileChange({ event_id: 'evt-1' }), invalid('SchemaViolation', 'event_id: must be a ULID or a UUID')],
      [
        'occurred_at without a time zone',
        aProfileChange({ occurred_at: '2026-11-28T10:15:30' }),
        invalid('SchemaViolation', 'occurred_at: must be an ISO-8601 date-time with a time zone'),
      ],
      ['an unknown top-level field', aProfileChange({ source: 'crm' }), invalid('SchemaViolation', 'source: is not allowed')],
      [
        'an unknown profile field',
        aProfileChange({ profile: aProfile({ nickname: 'A' }) }),
        invalid('SchemaViolation', 'profile.nickname: is not a CAAC field (custom fields go under profile.custom)'),
      ],
      [
        'a custom field outside custom',
        aProfileChange({ profile: { cl_custom_points: 1 } }),
        invalid('SchemaViolation', 'profile.cl_custom_points: is not a CAAC field (custom fields go under profile.custom)'),
      ],
      ['a read-only field', aProfileChange({ profile: aProfile({ age: 30 }) }), invalid('SchemaViolation', 'profile.age: is read-only in CAAC')],
      ['a profile that is not an object', aProfileChange({ profile: [1] }), invalid('SchemaViolation', 'profile: must be object')],
      ['star_mark as text', aProfileChange({ profile: { star_mark: 'yes' } }), invalid('SchemaViolation', 'profile.star_mark: must be boolean or null')],
      ['an unknown gender', aProfileChange({ profile: { gender: 'M' } }), invalid('SchemaViolation', 'profile.gender: must be one of male, female, other, null')],
      ['an impossible birthday', aProfileChange({ profile: { birthday: '2023-02-29' } }), invalid('SchemaViolation', 'profile.birthday: must be a real date written YYYY-MM-DD')],
      ['a boolean custom value', aProfileChange({ profile: { custom: { vip: true } } }), invalid('SchemaViolation', 'profile.custom.vip: must be a string (at most 255 characters), a number or null')],
      [
        'an upper-case custom name',
        aProfileChange({ profile: { custom: { Points: 1 } } }),
        invalid('SchemaViolation', 'profile.custom.Points: custom field names must be 1 to 50 characters of a-z, 0-9 and _'),
      ],
      ['an invalid e-mail', aProfileChange({ profile: { display_email: 'amy@' } }), invalid('InvalidField', 'profile.display_email: is not an e-mail address')],
      [
        'an invalid mobile',
        aProfileChange({ profile: { display_mobile: '0912-34' } }),
        invalid('InvalidField', 'profile.display_mobile: is not a valid phone number (default region TW)'),
      ],
      ['an unknown region', aProfileChange({ profile: { region: 'us' } }), invalid('InvalidField', 'profile.region: must be one of tw, jp, th, hk, sg, my, cn, kr, mo, id, in, ph, vn, kh, mm, other')],
      ['a key field that contradicts the key', aProfileChange({ profile: { customer_id: 'C-2' } }), invalid('InvalidField', 'profile.customer_id: differs from key.customer_id')],
      [
        'one bad field among good ones',
        aProfileChange({ profile: aProfile({ display_mobile: 'n/a' }) }),
        invalid('InvalidField', 'profile.display_mobile: is not a phone number'),
      ],
    ])('with %s', (_, event, expected) => {
      expect(sut(toMessage(event))).toEqual(expected);
    });

    it('with more than 200 custom fields', () => {
      const custom: Record<string, number> = {};
      for (let i = 0; i <= 200; i++) custom[`f${i}`] = i;

      expect(sut(toMessage(aProfileChange({ profile: { custom } })))).toEqual(invalid('SchemaViolation', 'profile.custom: at most 200 custom fields'));
    });

    it('listing at most ten problems', () => {
      const custom: Record<string, boolean> = {};
      for (let i = 0; i < 12; i++) custom[`f${i}`] = true;

      const result = sut(toMessage(aProfileChange({ profile: { custom } })));

      expect(result.kind === 'error' && result.message.endsWith('; and 2 more')).toBe(true);
    });

    it.each([
      ['invalid JSON', Buffer.from('{"event_id": '), 'decode', 'InvalidJson'],
      ['invalid UTF-8', Buffer.concat([Buffer.from('{"event_id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), 'decode', 'InvalidUtf8'],
      ['a JSON string', toMessage('hello'), 'validate', 'SchemaViolation'],
    ])('with %s', (_, value, stage, errorClass) => {
      expect(sut(value)).toMatchObject({ kind: 'error', stage, errorClass });
    });

    it('with a __proto__ key, and pollutes nothing', () => {
      const value = Buffer.from(
        '{"event_id":"01JD8ZQ7N3X4Y5Z6A7B8C9D0EF","occurred_at":"2026-11-28T10:15:30Z","key":{"customer_id":"C-1"},"profile":{"custom":{"__proto__":{"polluted":1}}}}',
      );

      expect(sut(value)).toEqual(invalid('ForbiddenKey', 'key "__proto__" is not allowed (at /profile/custom)'));
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('with a constructor key', () => {
      const result = sut(toMessage(aProfileChange({ profile: { custom: { constructor: 1 } } })));

      expect(result).toEqual(invalid('ForbiddenKey', 'key "constructor" is not allowed (at /profile/custom)'));
    });

    it('with deeply nested values', () => {
      // Built as text: the test's own JSON.stringify would overflow the stack on such nesting.
      const text = JSON.stringify(aProfileChange({ profile: { custom: { x: 'DEEP' } } }));
      const value = Buffer.from(text.replace('"DEEP"', '['.repeat(100_000) + ']'.repeat(100_000)));

      expect(sut(value)).toEqual({
        kind: 'error',
        stage: 'decode',
        errorClass: 'NestingTooDeep',
        message: 'values nest deeper than 5 levels (at /profile/custom/x/0/0)',
      });
    });

    it('with an oversized message, before reading it, and without echoing it', () => {
      const decode = at(createProfileChangeDecoder({ defaultPhoneRegion: 'TW', maxMessageBytes: 1_024, maxFutureSkewMs: 86_400_000 }));
      const value = toMessage(aProfileChange({ profile: { display_name: 'x'.repeat(2_000) } }));

      expect(decode(value)).toEqual({
        kind: 'error',
        stage: 'decode',
        errorClass: 'MessageTooLarge',
        message: `message is ${value.length} bytes, over the limit of 1024`,
      });
    });

    it('with a long text value, naming the field without echoing the value', () => {
      const result = sut(toMessage(aProfileChange({ profile: { display_name: 'x'.repeat(300) } })));

      expect(result).toEqual(invalid('SchemaViolation', 'profile.display_name: must NOT have more than 255 characters'));
    });
  });

  describe('refuses text Postgres cannot store, naming the character and never the value', () => {
    const control = (at: string, code: string) => `${at}: must not contain control characters other than tab and line breaks (found ${code})`;
    const surrogate = (at: string, code: string) => `${at}: must not contain a lone surrogate, which is not Unicode text (found ${code})`;
    /** The event as a producer's JSON text, with `"PLACE"` replaced by raw JSON text. */
    const raw = (event: unknown, json: string) => Buffer.from(JSON.stringify(event).replace('"PLACE"', json));

    it.each([
      ['U+0000 in a text field', raw(aProfileChange({ profile: { display_name: 'PLACE' } }), '"Amy\\u0000Lin"'), invalid('SchemaViolation', control('profile.display_name', 'U+0000'))],
      ['a lone surrogate in a text field', raw(aProfileChange({ profile: { city: 'PLACE' } }), '"Taipei\\ud800"'), invalid('SchemaViolation', surrogate('profile.city', 'U+D800'))],
      ['a form feed in a custom value', raw(aProfileChange({ profile: { custom: { tier: 'PLACE' } } }), '"gold\\f"'), invalid('SchemaViolation', control('profile.custom.tier', 'U+000C'))],
      ['a lone surrogate in a custom value', raw(aProfileChange({ profile: { custom: { tier: 'PLACE' } } }), '"\\udc00"'), invalid('SchemaViolation', surrogate('profile.custom.tier', 'U+DC00'))],
      ['U+0000 in the key', raw(aProfileChange({ key: { customer_id: 'PLACE' } }), '"C-1001\\u0000"'), invalid('SchemaViolation', control('key.customer_id', 'U+0000'))],
      ['a lone surrogate in the key', raw(aProfileChange({ key: { display_email: 'PLACE' } }), '"amy@example.com\\ud83d"'), invalid('SchemaViolation', surrogate('key.display_email', 'U+D83D'))],
      ['U+0000 in a mobile', raw(aProfileChange({ profile: { display_mobile: 'PLACE' } }), '"0912\\u0000345678"'), invalid('SchemaViolation', control('profile.display_mobile', 'U+0000'))],
    ])('%s', (_, value, expected) => {
      expect(sut(value)).toEqual(expected);
    });

    it('a custom field name with U+0000', () => {
      const value = Buffer.from(JSON.stringify(aProfileChange({ profile: { custom: { PLACE: 1 } } })).replace('"PLACE"', '"ti\\u0000er"'));

      expect(sut(value)).toEqual(invalid('SchemaViolation', 'profile.custom.ti\u0000er: custom field names must be 1 to 50 characters of a-z, 0-9 and _'));
    });

    it('keeps tab and line breaks, DEL and C1 controls', () => {
      const result = sut(toMessage(aProfileChange({ profile: { address: 'No. 7\r\n\tTaipei', custom: { note: 'a\u007f\u0085b' } } })));

      expect(result.kind === 'change' && { ...result.change.patch }).toEqual({ address: 'No. 7\r\n\tTaipei', cl_custom_note: 'a\u007f\u0085b' });
    });
  });

  describe('refuses an occurred_at out of range', () => {
    it.each([
      ['before 2000', '1999-12-31T23:59:59.999Z', `occurred_at: is ${Date.UTC(1999, 11, 31, 23, 59, 59, 999)} ms since the epoch, before 2000-01-01 (seconds instead of milliseconds?)`],
      [
        'more than MAX_FUTURE_SKEW_MS ahead of the service clock',
        '2026-11-29T11:15:30.124Z',
        `occurred_at: is ${NOW + 86_400_001} ms since the epoch, more than 86400000 ms (MAX_FUTURE_SKEW_MS) ahead of this service's clock (2026-11-28T11:15:30.123Z)`,
      ],
      [
        'in the far future',
        '9999-12-31T23:59:59Z',
        `occurred_at: is 253402300799000 ms since the epoch, more than 86400000 ms (MAX_FUTURE_SKEW_MS) ahead of this service's clock (2026-11-28T11:15:30.123Z)`,
      ],
    ])('%s', (_, occurredAt, message) => {
      expect(sut(toMessage(aProfileChange({ occurred_at: occurredAt })))).toEqual(invalid('InvalidSourceTime', message));
    });

    it('accepts a time exactly MAX_FUTURE_SKEW_MS ahead', () => {
      const result = sut(toMessage(aProfileChange({ occurred_at: new Date(NOW + 86_400_000).toISOString() })));

      expect(result.kind === 'change' && result.change.sourceTs).toBe(NOW + 86_400_000);
    });
  });

  it('refuses an unknown default phone region when built', () => {
    expect(() => createProfileChangeDecoder({ defaultPhoneRegion: 'XX', maxFutureSkewMs: 86_400_000 })).toThrow('unknown phone region "XX"');
  });
});
