/**
 * One field's entry in contact_state.fields, in its stored form (migration 1796050000001).
 *
 * contact_state keeps a row for every contact ever imported and an entry per field, so the entry is
 * packed: a JSON string `"<hash> <ts> <seq> <at> <batch>"` (the hash of the value last imported, its
 * stamp, when that import was recorded in epoch ms, and the import batch that sent it; `at` and
 * `batch` may be empty, and are left off the end when both are). Rarer knowledge sits in an object
 * beside it, and the entry is then a JSON array `[core, extras]`: `v`, the value sent (kept under
 * DRIFT_POLICY=crm-wins only); `l`, learned from an export; and a drift mark `dx` (the export), `dh`,
 * `dseq`, `dat`, `dv` (the hash, seq, import time and value that had been sent). A number in the core
 * is written as JSON writes an integer, so the SQL twins (caac_sync_state_core and
 * caac_sync_state_entry) read and write exactly the same text.
 */
export type StoredStateEntry = string | [string, StateEntryExtras];

export interface StateEntryExtras {
  v?: unknown;
  l?: boolean;
  dx?: number | string;
  dh?: string;
  dseq?: number | string;
  dat?: number | string;
  dv?: unknown;
}

export interface StateEntry {
  hash: string;
  ts: number;
  seq: number;
  /** When the import that sent the value was recorded (epoch ms); absent on learned and legacy entries. */
  at?: number;
  /** The import batch that sent the value; absent when a change only confirmed what CAAC held. */
  batchId?: string;
  extras: StateEntryExtras;
}

export function encodeStateEntry(entry: StateEntry): StoredStateEntry {
  const parts = [entry.hash, String(entry.ts), String(entry.seq)];
  if (entry.at !== undefined || entry.batchId !== undefined) parts.push(entry.at === undefined ? '' : String(entry.at));
  if (entry.batchId !== undefined) parts.push(entry.batchId);
  const core = parts.join(' ');
  return Object.keys(entry.extras).length === 0 ? core : [core, entry.extras];
}

/** An entry in the layout before migration 1796050000001 (see decodeStateEntry). */
type ObjectStateEntry = { h: string; ts: number | string; seq: number | string; at?: number | string; b?: string } & StateEntryExtras;

/**
 * The entry's parts. TRICKY: an entry in the object layout is read as well: an instance of the
 * previous version, still running while this one migrates, records imports in that layout.
 */
export function decodeStateEntry(stored: StoredStateEntry | ObjectStateEntry): StateEntry {
  if (typeof stored === 'object' && !Array.isArray(stored)) {
    const { h, ts, seq, at, b, ...extras } = stored;
    return { hash: h, ts: Number(ts), seq: Number(seq), ...(at === undefined ? {} : { at: Number(at) }), ...(b === undefined ? {} : { batchId: String(b) }), extras };
  }
  const [core, extras] = typeof stored === 'string' ? [stored, {}] : stored;
  const [hash = '', ts = '0', seq = '0', at = '', batchId = ''] = core.split(' ');
  return {
    hash,
    ts: Number(ts),
    seq: Number(seq),
    ...(at === '' ? {} : { at: Number(at) }),
    ...(batchId === '' ? {} : { batchId }),
    extras,
  };
}
