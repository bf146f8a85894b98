import fc from 'fast-check';
import { decodeStateEntry, encodeStateEntry, type StateEntry, type StateEntryExtras, type StoredStateEntry } from '../../src/importer/state-entry';

/** A contact_state entry spelled out as an object (the layout before 1796050000001), for tests to write and read. */
export type EntryObject = { h: string; ts: number; seq: number; at?: number; b?: string } & StateEntryExtras;

/** A contact's stored entries, spelled out. */
export function asEntryObjects(fields: Record<string, StoredStateEntry>): Record<string, EntryObject> {
  return Object.fromEntries(
    Object.entries(fields).map(([field, stored]) => {
      const { hash, ts, seq, at, batchId, extras } = decodeStateEntry(stored);
      return [field, { h: hash, ts, seq, ...(at === undefined ? {} : { at }), ...(batchId === undefined ? {} : { b: batchId }), ...extras }];
    }),
  );
}

/** A contact's entries in their stored form. */
export function packedEntries(fields: Record<string, EntryObject>): Record<string, StoredStateEntry> {
  return Object.fromEntries(
    Object.entries(fields).map(([field, { h, ts, seq, at, b, ...extras }]) => [
      field,
      encodeStateEntry({ hash: h, ts, seq, ...(at === undefined ? {} : { at }), ...(b === undefined ? {} : { batchId: b }), extras }),
    ]),
  );
}

/** Entries as the importer and reconcile write them: hashes of base64url (or reconcile's 'x'), whole-number stamps. */
export const aStateEntry: fc.Arbitrary<StateEntry> = fc.record(
  {
    hash: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{16}$/), fc.constant('x')),
    ts: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    seq: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
    at: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    batchId: fc.integer({ min: 1, max: 2 ** 40 }).map(String),
    extras: fc.record(
      { v: fc.oneof(fc.constant(null), fc.stringMatching(/^[a-z é"\\]{0,5}$/), fc.integer(), fc.boolean()), l: fc.constant(true), dx: fc.nat(), dh: fc.constant('oAQX5P5IOGhGEQ2C'), dseq: fc.nat(), dat: fc.nat(), dv: fc.stringMatching(/^[a-z é]{0,5}$/) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['hash', 'ts', 'seq', 'extras'] },
);
