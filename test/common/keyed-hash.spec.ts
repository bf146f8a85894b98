import { createHmac } from 'node:crypto';
import { KeyedHash } from '../../src/common/keyed-hash';

describe(KeyedHash.name, () => {
  const sut = new KeyedHash('an-audit-key-of-16+chars');

  it('hashes a key as the documented openssl command does: HMAC-SHA256 of "type:value", 32 hex characters', () => {
    const expected = createHmac('sha256', 'an-audit-key-of-16+chars').update('display_email:amy@example.com').digest('hex').slice(0, 32);

    expect(sut.ofKey('display_email', 'amy@example.com')).toBe(expected);
    expect(new KeyedHash('another-key-of-16+chars').ofKey('display_email', 'amy@example.com')).not.toBe(expected);
  });

  it('verifies what it signed for the same purpose only, and nothing altered', () => {
    const signed = sut.sign('drift-cursor', '7-42');

    expect(sut.verify('drift-cursor', signed)).toBe('7-42');
    expect(sut.verify('other', signed)).toBeUndefined();
    expect(sut.verify('drift-cursor', signed.replace('7-42', '7-43'))).toBeUndefined();
    expect(sut.verify('drift-cursor', '7-42')).toBeUndefined();
    expect(new KeyedHash('another-key-of-16+chars').verify('drift-cursor', signed)).toBeUndefined();
  });
});
