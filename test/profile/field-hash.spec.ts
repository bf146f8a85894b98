import fc from 'fast-check';
import { FIELD_HASH_LENGTH, fieldHash, serialiseFieldValue } from '../../src/profile';

describe(fieldHash.name, () => {
  it('is stable across calls and tells types apart', () => {
    const hashes = [fieldHash(1), fieldHash('1'), fieldHash(true), fieldHash('true'), fieldHash(null), fieldHash('null'), fieldHash('')];

    expect(new Set(hashes).size).toBe(hashes.length);
    expect(fieldHash('Amy')).toBe(fieldHash('Amy'));
  });

  it('is the first 16 characters of SHA-256 of the canonical form in base64url', () => {
    // SHA-256 of 's:Amy' in base64url is oAQX5P5IOGhGEQ2CQvsFnjXmvUg2tnYuQ-E_SfRVWDE.
    expect(fieldHash('Amy')).toBe('oAQX5P5IOGhGEQ2C');
    expect(fieldHash('Amy')).toHaveLength(FIELD_HASH_LENGTH);
  });

  it('treats 0 and -0 as one value', () => {
    expect(fieldHash(-0)).toBe(fieldHash(0));
  });

  it('keeps the stored hash of every number written without an exponent before (1e-6 up to 1e21)', () => {
    // Pinned: these are the hashes of 'd:' + String(v), stored in contact_state before the plain
    // form (cut to their first 16 characters since); a change here would make those contacts look
    // changed and send them all again.
    expect([0.1, 123456789012345680000, 0.000001, -2.5, 99].map((v) => fieldHash(v))).toEqual([
      'Y8YcH-NFjAfOgl-6',
      '7ZwjsVUrhHGfKfsW',
      'B5RC-poOuaLXD9ix',
      'i1jKYweVzSGcocIP',
      'h8Ae4W1tO5Z8end6',
    ]);
  });

  it('hashes a tiny or huge number in plain positional form, as Postgres prints it', () => {
    expect([1e-7, 1e21].map((v) => fieldHash(v))).toEqual(['K8DSI6jdXs-V0zcp', 'xt739mRFs7YS1O6L']);
    expect(fieldHash(-1.5e-300)).toBe(fieldHash(Number(`-0.${'0'.repeat(299)}15`)));
  });

  it('hashes a number alike in every written form that reads back as the same double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        // Postgres writes a jsonb number in plain positional form (0.0000001, not 1e-7).
        const forms = [JSON.stringify(value), plainDecimal(value), value.toExponential(), value.toPrecision(17)];
        for (const form of forms) expect([form, fieldHash(Number(form))]).toEqual([form, fieldHash(value)]);
      }),
      { numRuns: 2_000 },
    );
  });
});

/** A double in positional notation without an exponent, as Postgres prints a numeric. */
function plainDecimal(value: number): string {
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace(/^-/, '').replace('.', '');
  const point = Number(exponentText) + 1;
  const text =
    point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? digits + '0'.repeat(point - digits.length) : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (negative ? '-' : '') + text;
}

describe(serialiseFieldValue.name, () => {
  it('prefixes each type', () => {
    expect([null, 'a', 1.5, false].map((v) => serialiseFieldValue(v))).toEqual(['n', 's:a', 'd:1.5', 'b:false']);
  });

  it('writes a number in its one canonical form: the shortest digits that read back, without an exponent', () => {
    expect([1e-7, 0.000001, 1e21, 1e20, 0.30000000000000004, -2.5e-10, 1.5e25, 2 ** 53 + 2, 5e-324].map((v) => serialiseFieldValue(v))).toEqual([
      'd:0.0000001',
      'd:0.000001',
      'd:1000000000000000000000',
      'd:100000000000000000000',
      'd:0.30000000000000004',
      'd:-0.00000000025',
      'd:15000000000000000000000000',
      'd:9007199254740994',
      `d:0.${'0'.repeat(323)}5`,
    ]);
  });
});
