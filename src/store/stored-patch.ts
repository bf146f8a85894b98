import type { StampedPatch } from '../profile';

/** The compact form stored in `pending_change.fields`: {"field": {"v", "ts", "seq"}}. */
export type StoredStampedPatch = Record<string, { v: unknown; ts: number; seq: number }>;

export function toStored(patch: StampedPatch): StoredStampedPatch {
  const stored: StoredStampedPatch = {};
  for (const field of Object.keys(patch)) {
    const { value, ts, seq } = patch[field]!;
    stored[field] = { v: value, ts, seq };
  }
  return stored;
}

export function fromStored(stored: StoredStampedPatch): StampedPatch {
  const patch = Object.create(null) as StampedPatch;
  for (const field of Object.keys(stored)) {
    const { v, ts, seq } = stored[field]!;
    patch[field] = { value: v as StampedPatch[string]['value'], ts: Number(ts), seq: Number(seq) };
  }
  return patch;
}
