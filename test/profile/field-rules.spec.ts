import { CUSTOM_FIELDS_MAX, isCalendarDate, toPhoneRegion, validatePatch } from '../../src/profile';
import type { PatchContext } from '../../src/profile';

const ctx: PatchContext = { defaultPhoneRegion: toPhoneRegion('TW') };

function customFields(count: number): Record<string, number> {
  const result: Record<string, number> = {};
  for (let i = 0; i < count; i++) result[`cl_custom_f${i}`] = i;
  return result;
}

describe(validatePatch.name, () => {
  it('normalises e-mail, mobile and region and keeps the other values as they are', () => {
    const sut = validatePatch(
      {
        display_name: 'Amy Lin',
        display_email: '  Amy@Example.COM ',
        display_mobile: '0912-345-678',
        birthday: '1990-04-01',
        gender: 'female',
        region: 'TW',
        star_mark: true,
        customer_id: ' C-1001 ',
        cl_custom_points: 120,
        cl_custom_tier: 'gold',
      },
      ctx,
    );

    expect(sut).toEqual({
      ok: true,
      patch: {
        display_name: 'Amy Lin',
        display_email: 'amy@example.com',
        display_mobile: '+886912345678',
        birthday: '1990-04-01',
        gender: 'female',
        region: 'tw',
        star_mark: true,
        customer_id: 'C-1001',
        cl_custom_points: 120,
        cl_custom_tier: 'gold',
      },
    });
  });

  it('accepts null for every writable field, meaning clear', () => {
    const sut = validatePatch({ display_email: null, display_mobile: null, birthday: null, star_mark: null, cl_custom_points: null }, ctx);

    expect(sut).toEqual({
      ok: true,
      patch: { display_email: null, display_mobile: null, birthday: null, star_mark: null, cl_custom_points: null },
    });
  });

  it.each([
    ['display_mobile', '0912-34', 'is not a valid phone number (default region TW)'],
    ['display_mobile', 'call me', 'is not a phone number'],
    ['display_mobile', '   ', 'must not be empty'],
    ['display_mobile', 912345678, 'must be a string'],
    ['display_email', 'amy@', 'is not an e-mail address'],
    ['display_email', 'amy example.com', 'is not an e-mail address'],
    ['display_email', `${'a'.repeat(250)}@example.com`, 'must be at most 255 characters'],
    ['birthday', '2023-02-29', 'must be a real date written YYYY-MM-DD'],
    ['birthday', '1990-4-1', 'must be a real date written YYYY-MM-DD'],
    ['gender', 'Male', 'must be one of male, female, other'],
    ['region', 'us', 'must be one of tw, jp, th, hk, sg, my, cn, kr, mo, id, in, ph, vn, kh, mm, other'],
    ['star_mark', 'true', 'must be a boolean'],
    ['display_name', 'x'.repeat(256), 'must be at most 255 characters'],
    ['display_name', 42, 'must be a string'],
    ['customer_id', '  ', 'must not be empty'],
    ['age', 30, 'is read-only in CAAC'],
    ['engagement_level', 'high', 'is read-only in CAAC'],
    ['nickname', 'Amy', 'is not a CAAC field'],
    ['__proto__', 'x', 'is not a CAAC field'],
    ['cl_custom_Points', 1, 'custom field names must be 1 to 50 characters of a-z, 0-9 and _'],
    ['cl_custom_', 1, 'custom field names must be 1 to 50 characters of a-z, 0-9 and _'],
    [`cl_custom_${'a'.repeat(51)}`, 1, 'custom field names must be 1 to 50 characters of a-z, 0-9 and _'],
    ['cl_custom_opt_in', true, 'must be a string or a number'],
    ['cl_custom_tags', ['a'], 'must be a string or a number'],
    ['cl_custom_points', Infinity, 'must be a finite number'],
    ['cl_custom_note', 'x'.repeat(256), 'must be at most 255 characters'],
    ['display_name', 'Amy\u0000Lin', 'must not contain control characters other than tab and line breaks (found U+0000)'],
    ['address', 'No. 7\u000bTaipei', 'must not contain control characters other than tab and line breaks (found U+000B)'],
    ['cl_custom_note', 'gold\ud800', 'must not contain a lone surrogate, which is not Unicode text (found U+D800)'],
    ['customer_id', 'C-1001\u0000', 'must not contain control characters other than tab and line breaks (found U+0000)'],
    ['line_uid', '\udc00U4af', 'must not contain a lone surrogate, which is not Unicode text (found U+DC00)'],
    ['display_mobile', '0912\u0000345678', 'must not contain control characters other than tab and line breaks (found U+0000)'],
    ['display_email', 'amy\u0000@example.com', 'must not contain control characters other than tab and line breaks (found U+0000)'],
    ['cl_custom_na\u0000me', 'x', 'custom field names must be 1 to 50 characters of a-z, 0-9 and _'],
  ])('rejects %s = %j: %s', (field, value, reason) => {
    const input = Object.create(null) as Record<string, unknown>;
    input[field] = value;

    expect(validatePatch(input, ctx)).toEqual({ ok: false, errors: [{ field, reason }] });
  });

  it('keeps tab and line breaks in text and custom values', () => {
    expect(validatePatch({ address: 'No. 7\r\nTaipei', cl_custom_note: 'a\tb\n' }, ctx)).toEqual({
      ok: true,
      patch: { address: 'No. 7\r\nTaipei', cl_custom_note: 'a\tb\n' },
    });
  });

  it('counts text length in characters, not UTF-16 units', () => {
    const emoji255 = '😀'.repeat(255);

    expect(validatePatch({ display_name: emoji255 }, ctx)).toEqual({ ok: true, patch: { display_name: emoji255 } });
  });

  it('accepts 2024-02-29 and a 50-character custom name', () => {
    const name = `cl_custom_${'a'.repeat(50)}`;

    expect(validatePatch({ birthday: '2024-02-29', [name]: '2026-11-28T10:15:30Z' }, ctx)).toEqual({
      ok: true,
      patch: { birthday: '2024-02-29', [name]: '2026-11-28T10:15:30Z' },
    });
  });

  it(`accepts ${CUSTOM_FIELDS_MAX} custom fields and rejects one more`, () => {
    expect(validatePatch(customFields(CUSTOM_FIELDS_MAX), ctx).ok).toBe(true);
    expect(validatePatch(customFields(CUSTOM_FIELDS_MAX + 1), ctx)).toEqual({
      ok: false,
      errors: [{ field: 'cl_custom_*', reason: 'at most 200 custom fields, got 201' }],
    });
  });

  it('reports every bad field at once', () => {
    const sut = validatePatch({ gender: 'x', age: 3, display_name: 'ok' }, ctx);

    expect(sut).toEqual({
      ok: false,
      errors: [
        { field: 'gender', reason: 'must be one of male, female, other' },
        { field: 'age', reason: 'is read-only in CAAC' },
      ],
    });
  });

  it('rejects what is not an object', () => {
    expect(validatePatch([], ctx)).toEqual({ ok: false, errors: [{ field: '', reason: 'the patch must be an object' }] });
  });

  it('stores custom -0 as 0', () => {
    const sut = validatePatch({ cl_custom_points: -0 }, ctx);

    expect(sut.ok && Object.is(sut.patch.cl_custom_points, 0)).toBe(true);
  });
});

describe(isCalendarDate.name, () => {
  it.each([
    ['2024-02-29', true],
    ['2000-02-29', true],
    ['1900-02-29', false],
    ['2023-02-29', false],
    ['2023-04-31', false],
    ['2023-13-01', false],
    ['0000-01-01', false],
    ['2023-01-01T00:00:00Z', false],
  ])('%s -> %s', (text, expected) => {
    expect(isCalendarDate(text)).toBe(expected);
  });
});
