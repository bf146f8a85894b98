import { decodeStateEntry, encodeStateEntry, type StateEntryExtras, type StoredStateEntry } from '../../src/importer/state-entry';

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
