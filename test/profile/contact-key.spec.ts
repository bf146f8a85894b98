import { normaliseEmail, normaliseMobile, toContactKey, toPhoneRegion } from '../../src/profile';

const TW = toPhoneRegion('TW');

describe(normaliseMobile.name, () => {
  it.each([
    ['0912-345-678', '+886912345678'],
    ['0912 345 678', '+886912345678'],
    ['(09) 1234-5678', '+886912345678'],
    ['+886 912 345 678', '+886912345678'],
    ['+886-912-345-678', '+886912345678'],
    ['+886912345678', '+886912345678'],
    ['02-2345-6789', '+886223456789'],
    ['+81 90-1234-5678', '+819012345678'],
  ])('%s -> %s', (input, expected) => {
    expect(normaliseMobile(input, TW)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['0912-34', 'is not a valid phone number (default region TW)'],
    ['0912345678901', 'is not a valid phone number (default region TW)'],
    ['not a number', 'is not a phone number'],
    ['', 'must not be empty'],
  ])('rejects %j: %s', (input, reason) => {
    expect(normaliseMobile(input, TW)).toEqual({ ok: false, reason });
  });
});

describe(normaliseEmail.name, () => {
  it.each([
    ['Amy@Example.com', 'amy@example.com'],
    ['  amy.lin+crm@mail.example.co.jp\t', 'amy.lin+crm@mail.example.co.jp'],
  ])('%j -> %s', (input, expected) => {
    expect(normaliseEmail(input)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['', 'must not be empty'],
    ['amy', 'is not an e-mail address'],
    ['amy@example', 'is not an e-mail address'],
    ['@example.com', 'is not an e-mail address'],
    ['amy@@example.com', 'is not an e-mail address'],
  ])('rejects %j: %s', (input, reason) => {
    expect(normaliseEmail(input)).toEqual({ ok: false, reason });
  });
});

describe(toContactKey.name, () => {
  it('normalises each key type the way the profile field is normalised', () => {
    expect(toContactKey('display_email', ' Amy@Example.com ', TW)).toEqual({ ok: true, key: { type: 'display_email', value: 'amy@example.com' } });
    expect(toContactKey('display_mobile', '0912-345-678', TW)).toEqual({ ok: true, key: { type: 'display_mobile', value: '+886912345678' } });
    expect(toContactKey('customer_id', ' C-1001 ', TW)).toEqual({ ok: true, key: { type: 'customer_id', value: 'C-1001' } });
    expect(toContactKey('line_uid', 'U4af4980629', TW)).toEqual({ ok: true, key: { type: 'line_uid', value: 'U4af4980629' } });
  });

  it('rejects a key with a control character or a lone surrogate, even where normalising would drop it', () => {
    const control = 'must not contain control characters other than tab and line breaks (found U+0000)';
    expect(toContactKey('customer_id', 'C-1001\u0000', TW)).toEqual({ ok: false, reason: control });
    expect(toContactKey('display_mobile', '0912\u0000345678', TW)).toEqual({ ok: false, reason: control });
    expect(toContactKey('display_email', 'amy@example.com\ud800', TW)).toEqual({
      ok: false,
      reason: 'must not contain a lone surrogate, which is not Unicode text (found U+D800)',
    });
  });

  it('rejects blank and non-string values', () => {
    expect(toContactKey('connect_id', '   ', TW)).toEqual({ ok: false, reason: 'must not be empty' });
    expect(toContactKey('customer_id', 1001, TW)).toEqual({ ok: false, reason: 'must be a string' });
  });
});

describe(toPhoneRegion.name, () => {
  it('accepts a known region in any case and rejects an unknown one', () => {
    expect(toPhoneRegion('tw')).toBe('TW');
    expect(() => toPhoneRegion('XX')).toThrow('unknown phone region "XX": expected an ISO 3166-1 alpha-2 code such as TW');
  });
});
