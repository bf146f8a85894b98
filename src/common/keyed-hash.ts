import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Hex characters of a key hash kept in an audit line: 128 bits, far past any collision among one
 * account's contacts, and short enough to read.
 */
export const KEY_HASH_CHARS = 32;
/** Characters of a cursor's signature: 96 bits, more than anyone can guess a page at a time. */
const SIGNATURE_CHARS = 16;

/**
 * Keyed hashes (HMAC-SHA256) under the service's audit key (AUDIT_HASH_KEY). A plain hash of a
 * phone number or an e-mail is reversed by trying every candidate; a keyed one only by someone
 * holding the key, who can then also check whether a given person's data was read:
 * `printf '%s' 'display_email:amy@example.com' | openssl dgst -sha256 -hmac "$AUDIT_HASH_KEY"`,
 * the first 32 hex characters.
 */
export class KeyedHash {
  constructor(private readonly key: string) {}

  /** The audit hash of one contact key: stable across restarts and instances sharing the key. */
  ofKey(keyType: string, keyValue: string): string {
    return createHmac('sha256', this.key).update(`${keyType}:${keyValue}`).digest('hex').slice(0, KEY_HASH_CHARS);
  }

  /** `text` with a signature, so a value handed to a client comes back unaltered or is refused. */
  sign(purpose: string, text: string): string {
    return `${text}.${this.signature(purpose, text)}`;
  }

  /** The text of a signed value, or undefined when it was not signed here for `purpose`. */
  verify(purpose: string, signed: string): string | undefined {
    const dot = signed.lastIndexOf('.');
    if (dot < 0) return undefined;
    const text = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    const expected = Buffer.from(this.signature(purpose, text));
    return given.length === expected.length && timingSafeEqual(given, expected) ? text : undefined;
  }

  private signature(purpose: string, text: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\0${text}`).digest('base64url').slice(0, SIGNATURE_CHARS);
  }
}
