import type { EntityManager } from 'typeorm';
import { fieldHash, type KeyType, type StampedPatch } from '../profile';
import { TAKE_OLDEST } from '../store/pending-change.repository';
import { fromStored, type StoredStampedPatch } from '../store/stored-patch';
import { encodeStateEntry, type StoredStateEntry } from './state-entry';

export interface ContactStateOptions {
  /**
   * Whether each entry keeps the value sent, besides its hash: only DRIFT_POLICY=crm-wins reads it,
   * and it is most of an entry's size (contact_state holds a row per contact ever imported).
   */
  keepSentValues: boolean;
}

/** A pending contact taken for a claim, with only the fields CAAC does not hold yet. */
export interface UnsentChange {
  keyValue: string;
  /** The fields worth sending (withoutUnchanged's `patch`); empty when none is. */
  fields: StampedPatch;
  firstStagedAt: Date;
  rowFailures: number;
}

export interface TakenUnsent {
  /** Every contact taken, in queue order (oldest first); none when nothing is pending. */
  changes: UnsentChange[];
  /** Fields dropped as equal to what CAAC holds (invariant 5). */
  unchanged: number;
  /** Fields dropped as older than what was last imported (invariant 2). */
  stale: number;
}

export class ContactStateRepository {
  constructor(private readonly options: ContactStateOptions) {}

  /**
   * Takes up to `limit` of the oldest pending contacts of one key type out of pending_change and
   * compares them with what was last imported, in one statement, set-based: withoutUnchanged's
   * rule, field by field (a value whose hash equals the one imported is unchanged, checked first;
   * else a stamp (ts, seq) older than the imported one is stale). Only the fields worth sending
   * come back, so the known state never travels to the service.
   * TRICKY: an unchanged field's change may be newer than the import that put its value in CAAC:
   * it is recorded with its stamp as imported at `at` (as recordImported would), or a late older
   * value of the field would look newer than what CAAC holds and overwrite it (invariant 7).
   */
  async takeUnsent(db: EntityManager, keyType: KeyType, limit: number, at: number): Promise<TakenUnsent> {
    const rows: Array<{ key_value: string; fields: StoredStampedPatch; first_staged_at: Date; row_failures: number; unchanged: number; stale: number }> =
      await db.query(
        // Invariants 2 and 5: the same rule as withoutUnchanged, and the hash is caac_sync_field_hash,
        // fieldHash's twin; an entry's core is {hash, ts, seq, at, batch} (see state-entry.ts).
        `WITH taken AS (${TAKE_OLDEST}),
         judged AS (
           SELECT t.key_value, t.first_staged_at, t.row_failures, x.send, x.confirm, x.unchanged, x.stale
             FROM taken t
             LEFT JOIN contact_state s ON s.key_type = $1 AND s.key_value = t.key_value
             CROSS JOIN LATERAL (
               SELECT jsonb_object_agg(f.key, f.value) FILTER (WHERE v.verdict = 'send') AS send,
                      jsonb_object_agg(f.key, caac_sync_state_entry(v.h, (f.value->>'ts')::bigint, (f.value->>'seq')::bigint, $3::bigint, NULL,
                                                                    CASE WHEN $4 THEN jsonb_build_object('v', f.value->'v') END))
                        FILTER (WHERE v.verdict = 'unchanged') AS confirm,
                      count(*) FILTER (WHERE v.verdict = 'unchanged')::int AS unchanged,
                      count(*) FILTER (WHERE v.verdict = 'stale')::int AS stale
                 FROM jsonb_each(t.fields) f
                 CROSS JOIN LATERAL (SELECT caac_sync_state_core(s.fields->f.key) AS last) l
                 -- The hash only where something was imported: a new field is sent whatever it holds.
                 CROSS JOIN LATERAL (SELECT CASE WHEN l.last IS NOT NULL THEN caac_sync_field_hash(f.value->'v') END AS h) hashed
                 CROSS JOIN LATERAL (
                   SELECT hashed.h, CASE WHEN l.last IS NULL THEN 'send'
                                         WHEN hashed.h = l.last[1] THEN 'unchanged'
                                         WHEN ((f.value->>'ts')::bigint, (f.value->>'seq')::bigint) < (l.last[2]::bigint, l.last[3]::bigint) THEN 'stale'
                                         ELSE 'send' END AS verdict) v) x),
         confirmed AS (
           INSERT INTO contact_state AS c (key_type, key_value, fields)
           SELECT $1, j.key_value, j.confirm FROM judged j WHERE j.confirm IS NOT NULL ORDER BY j.key_value
           ON CONFLICT (key_type, key_value) DO UPDATE
             SET fields = caac_sync_merge_state(c.fields, EXCLUDED.fields), updated_at = now())
         SELECT j.key_value, coalesce(j.send, '{}'::jsonb) AS fields, j.first_staged_at, j.row_failures, j.unchanged, j.stale
           FROM judged j ORDER BY j.first_staged_at, j.key_value`,
        [keyType, limit, at, this.options.keepSentValues],
      );
    const taken: TakenUnsent = { changes: [], unchanged: 0, stale: 0 };
    for (const row of rows) {
      taken.changes.push({ keyValue: row.key_value, fields: fromStored(row.fields), firstStagedAt: row.first_staged_at, rowFailures: row.row_failures });
      taken.unchanged += row.unchanged;
      taken.stale += row.stale;
    }
    return taken;
  }

  /**
   * Records what CAAC now holds after a successful import. Per field the newer stamp wins, so a
   * late-recorded older import can never mask a newer one (invariants 2 and 5). The value itself
   * is kept only when the options ask for it (keepSentValues).
   */
  async recordImported(db: EntityManager, keyType: KeyType, contacts: Array<{ keyValue: string; fields: StampedPatch }>, at: number, batchId?: string): Promise<void> {
    if (contacts.length === 0) return;
    const rows = contacts.map(({ keyValue, fields }) => {
      const state: Record<string, StoredStateEntry> = {};
      for (const field of Object.keys(fields)) {
        const { value, ts, seq } = fields[field]!;
        state[field] = encodeStateEntry({ hash: fieldHash(value), ts, seq, at, ...(batchId === undefined ? {} : { batchId }), extras: this.options.keepSentValues ? { v: value } : {} });
      }
      return { k: keyValue, f: state };
    });
    await db.query(
      `INSERT INTO contact_state AS c (key_type, key_value, fields)
       SELECT $1, r.k, r.f FROM jsonb_to_recordset($2::jsonb) AS r(k text, f jsonb)
       ORDER BY r.k
       ON CONFLICT (key_type, key_value) DO UPDATE
         SET fields = caac_sync_merge_state(c.fields, EXCLUDED.fields), updated_at = now()`,
      [keyType, JSON.stringify(rows)],
    );
  }
}
