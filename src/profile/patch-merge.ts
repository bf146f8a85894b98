import { fieldHash } from './field-hash';
import { emptyRecord, hasField } from './patch';
import type { FieldValue, Patch, Stamp, StampedField, StampedPatch } from './patch';

/**
 * Orders two stamped fields: by `ts`, then `seq`, then by the hash of the value (fieldHash), so
 * that any two fields are ordered and a merge never depends on argument order. Negative when `a`
 * loses to `b`, positive when it wins, 0 only when both carry the same stamp and the same value.
 */
export function compareStamped(a: StampedField, b: StampedField): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  if (a.value === b.value) return 0;
  // TRICKY: equal stamps with different values only come from conflicting producers. The hash
  // order is the one tie-break every merge can compute: Postgres's merges of pending_change and of
  // contact_state (which keeps only hashes) use it too (caac_sync_merge_fields, caac_sync_merge_state).
  // Comparing values instead disagreed: Postgres writes numbers and orders strings its own way.
  const ha = fieldHash(a.value);
  const hb = fieldHash(b.value);
  return ha === hb ? 0 : ha < hb ? -1 : 1;
}

/**
 * Merges `source` into `target` in place, field by field, keeping the newer field
 * (compareStamped). Returns `target`. Use on a patch you own (a batch's accumulator); fields are
 * shared, not copied, and must be treated as immutable.
 */
export function mergeStampedInto(target: StampedPatch, source: StampedPatch): StampedPatch {
  for (const field of Object.keys(source)) {
    const incoming = source[field]!;
    if (!hasField(target, field) || compareStamped(incoming, target[field]!) > 0) {
      target[field] = incoming;
    }
  }
  return target;
}

/**
 * The merge of two stamped patches: every field present in either, with the newer of the two
 * (by `ts`, then `seq`, then the order of the value's hash). Total and deterministic, hence
 * commutative, associative and idempotent; a field set to `null` by the winner stays present as
 * `null`, a field in neither stays absent. Inputs are not changed; the result has a null prototype.
 */
export function mergeStamped(a: StampedPatch, b: StampedPatch): StampedPatch {
  return mergeStampedInto(mergeStampedInto(emptyRecord<StampedField>(), a), b);
}

/** Gives every field of `patch` the same stamp. */
export function stamp(patch: Patch, at: Stamp): StampedPatch {
  const result = emptyRecord<StampedField>();
  for (const field of Object.keys(patch)) {
    result[field] = { value: patch[field]!, ts: at.ts, seq: at.seq };
  }
  return result;
}

/** The plain patch of a stamped patch: same fields, stamps dropped, `null` kept. */
export function unstamp(sp: StampedPatch): Patch {
  const result = emptyRecord<FieldValue | null>();
  for (const field of Object.keys(sp)) result[field] = sp[field]!.value;
  return result;
}

/**
 * What CAAC holds after importing `patch` over `state` (the Profile API's semantics): a field the
 * patch sets overwrites, a field it sets to `null` is removed, a field it does not name is kept.
 * Returns a new null-prototype object.
 */
export function applyPatch(state: Record<string, FieldValue>, patch: Patch): Record<string, FieldValue> {
  const result = emptyRecord<FieldValue>();
  for (const field of Object.keys(state)) result[field] = state[field]!;
  for (const field of Object.keys(patch)) {
    const value = patch[field]!;
    if (value === null) delete result[field];
    else result[field] = value;
  }
  return result;
}

/** What was last imported into CAAC for one field of one contact. */
export interface ImportedField {
  /** fieldHash of the value imported. */
  hash: string;
  ts: number;
  seq: number;
}

export interface WithoutUnchangedResult {
  /** The fields still worth sending. */
  patch: StampedPatch;
  /** Fields whose value equals the one last imported (no-op, DESIGN invariant 5). */
  unchanged: string[];
  /** Fields older than the one last imported (never sent, DESIGN invariant 2). */
  stale: string[];
}

/**
 * Drops the fields CAAC needs no import for, given what was last imported per field. A field whose
 * value hashes equal to the imported one is `unchanged` (checked first: an old duplicate is a
 * no-op, not a conflict); otherwise a field whose (ts, seq) is older than the imported one's is
 * `stale`. Fields with nothing imported, or at least as new with another value, are kept.
 */
export function withoutUnchanged(
  sp: StampedPatch,
  imported: Readonly<Record<string, ImportedField>>,
): WithoutUnchangedResult {
  const patch = emptyRecord<StampedField>();
  const unchanged: string[] = [];
  const stale: string[] = [];
  for (const field of Object.keys(sp)) {
    const current = sp[field]!;
    const last = hasField(imported, field) ? imported[field]! : undefined;
    if (last === undefined) {
      patch[field] = current;
    } else if (fieldHash(current.value) === last.hash) {
      unchanged.push(field);
    } else if (current.ts < last.ts || (current.ts === last.ts && current.seq < last.seq)) {
      stale.push(field);
    } else {
      patch[field] = current;
    }
  }
  return { patch, unchanged, stale };
}

export interface WithoutOlderResult {
  /** The fields no other key of the contact carries newer. */
  patch: StampedPatch;
  /** Fields another key of the same contact carries newer (never sent, DESIGN invariant 7). */
  stale: string[];
}

/**
 * Drops the fields that another key of the same CAAC contact carries newer, sent or pending:
 * `newest` holds, per field, the newest stamp and value hash found through the contact's other
 * keys. A field loses when that one wins over it by compareStamped's order (`ts`, then `seq`, then
 * the greater hash), so equal stamps break the same way as every other merge; an equal stamp and
 * value is kept (it is the same change).
 */
export function withoutOlderThan(sp: StampedPatch, newest: Readonly<Record<string, ImportedField>>): WithoutOlderResult {
  const patch = emptyRecord<StampedField>();
  const stale: string[] = [];
  for (const field of Object.keys(sp)) {
    const current = sp[field]!;
    const other = hasField(newest, field) ? newest[field]! : undefined;
    if (other !== undefined && olderThan(current, other)) stale.push(field);
    else patch[field] = current;
  }
  return { patch, stale };
}

function olderThan(field: StampedField, other: ImportedField): boolean {
  if (field.ts !== other.ts) return field.ts < other.ts;
  if (field.seq !== other.seq) return field.seq < other.seq;
  return fieldHash(field.value) < other.hash;
}
