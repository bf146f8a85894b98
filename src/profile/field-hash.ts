import { hash } from 'node:crypto';
import type { FieldValue } from './patch';

/**
 * A canonical text form of a field value that keeps the type: `1` -> `d:1`, `"1"` -> `s:1`,
 * `true` -> `b:true`, `null` -> `n`. Two values have the same form exactly when CAAC would hold
 * the same value (`-0` and `0` share one form, as they do in JSON). A number is written with the
 * shortest digits that read back as the same double, in plain positional form (`1e-7` ->
 * `d:0.0000001`, `1e21` -> `d:1000000000000000000000`): the form Postgres prints a jsonb number in,
 * so its twin caac_sync_field_hash computes the same hash. Changing this form changes the hashes
 * stored in contact_state.
 */
export function serialiseFieldValue(value: FieldValue | null): string {
  if (value === null) return 'n';
  switch (typeof value) {
    case 'string':
      return 's:' + value;
    case 'number':
      return 'd:' + plainNumber(value);
    default:
      return value ? 'b:true' : 'b:false';
  }
}

/**
 * Characters of a stored field hash: the first 96 bits of SHA-256 in base64url. A collision only
 * matters between the new and the last imported value of one field of one contact (it would hide
 * that change): about 1 in 8 * 10^28 per comparison, so none in practice however many contacts
 * and changes there are. Shorter than the full 43 characters because contact_state keeps one
 * per field of every contact ever imported (migration 1796000000000 cut the stored ones).
 */
export const FIELD_HASH_LENGTH = 16;

/**
 * A stable, type-aware digest of a field value, stored per field as "what CAAC last imported":
 * equal values hash equal across processes and versions; `1` and `"1"` differ; `null` has its own
 * hash. The first FIELD_HASH_LENGTH characters of SHA-256 in base64url, so a collision, which
 * would hide a change, is not a practical concern. Its SQL twin is caac_sync_field_hash.
 */
export function fieldHash(value: FieldValue | null): string {
  return hash('sha256', serialiseFieldValue(value), 'base64url').slice(0, FIELD_HASH_LENGTH);
}

/**
 * The shortest round-trip digits of a finite number (ECMAScript's Number::toString) without an
 * exponent: `1.5e-7` -> `0.00000015`, `1e+21` -> `1000000000000000000000`.
 */
function plainNumber(value: number): string {
  const text = String(value);
  const exponent = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!exponent) return text;
  const [, sign, lead, rest = '', power] = exponent as unknown as [string, string, string, string | undefined, string];
  const digits = lead + rest;
  const point = 1 + Number(power);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
