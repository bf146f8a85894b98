import { fieldHash, serialiseFieldValue } from '../../src/profile';

describe(fieldHash.name, () => {
  it('is stable across calls and tells types apart', () => {
    const hashes = [fieldHash(1), fieldHash('1'), fieldHash(true), fieldHash('true'), fieldHash(null), fieldHash('null'), fieldHash('')];

    expect(new Set(hashes).size).toBe(hashes.length);
    expect(fieldHash('Amy')).toBe(fieldHash('Amy'));
  });

  it('is SHA-256 of the canonical form in base64url', () => {
    expect(fieldHash('Amy')).toBe('oAQX5P5IOGhGEQ2CQvsFnjXmvUg2tnYuQ-E_SfRVWDE');
    expect(fieldHash('Amy')).toHaveLength(43);
  });

  it('treats 0 and -0 as one value', () => {
    expect(fieldHash(-0)).toBe(fieldHash(0));
  });
});

describe(serialiseFieldValue.name, () => {
  it('prefixes each type', () => {
    expect([null, 'a', 1.5, false].map((v) => serialiseFieldValue(v))).toEqual(['n', 's:a', 'd:1.5', 'b:false']);
  });
});
