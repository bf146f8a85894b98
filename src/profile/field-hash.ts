import { hash } from 'node:crypto';
import type { FieldValue } from './patch';

/**
 * A canonical text form of a field value that keeps the type: `1` -> `d:1`, `"1"` -> `s:1`,
 * `true` -> `b:true`, `null` -> `n`. Two values have the same form exactly when CAAC would hold
 * the same value (`-0` and `0` share one form, as they do in JSON).
 */
export function serialiseFieldValue(value: FieldValue | null): string {
  if (value === null) return 'n';
  switch (typeof value) {
    case 'string':
      return 's:' + value;
    case 'number':
      return 'd:' + String(value);
    default:
      return value ? 'b:true' : 'b:false';
  }
}

/**
 * A stable, type-aware digest of a field value, stored per field as "what CAAC last imported":
 * equal values hash equal across processes and versions; `1` and `"1"` differ; `null` has its own
 * hash. SHA-256 in base64url (43 characters), so a collision, which would hide a change, is not a
 * practical concern.
 */
export function fieldHash(value: FieldValue | null): string {
  return hash('sha256', serialiseFieldValue(value), 'base64url');
}
