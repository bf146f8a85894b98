import type { KeyType } from './field-catalogue';

/** One contact as the Profile API identifies it: the key type and its normalised value. */
export interface ContactKey {
  type: KeyType;
  value: string;
}

/** A field value CAAC accepts: text, a finite number, or a boolean (`star_mark`). */
export type FieldValue = string | number | boolean;

/**
 * A field-level change to one contact, flat CAAC field names (custom fields as `cl_custom_*`).
 * A field set to `null` clears it in CAAC; a field that is absent stays as it is.
 * Patches built here have a null prototype, so input keys can never reach Object.prototype.
 */
export type Patch = Record<string, FieldValue | null>;

/** When a change happened: source time, then a tie-breaker for equal times. */
export interface Stamp {
  /** Source time in epoch milliseconds (Debezium `source.ts_ms`, or `occurred_at`). */
  ts: number;
  /** Tie-breaker for equal `ts`: the Kafka offset (a later offset wins). */
  seq: number;
}

/** One field's value with the stamp of the change that set it. Treated as immutable. */
export interface StampedField {
  value: FieldValue | null;
  ts: number;
  seq: number;
}

/** A patch whose every field carries its own stamp, so patches merge field by field. */
export type StampedPatch = Record<string, StampedField>;

/** A null-prototype object, safe to fill with keys that come from input. */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Own-property check that ignores anything inherited (`constructor`, `__proto__`). */
export function hasField(record: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(record, field);
}
