import type { EntityManager } from 'typeorm';
import type { KeyType, StampedPatch } from '../profile';
import { toStored } from './stored-patch';

/** A contact's coalesced changes from one Kafka batch, ready to merge into the staging table. */
export interface StagedChange {
  keyType: KeyType;
  keyValue: string;
  fields: StampedPatch;
}

/** Rows per statement: keeps one upsert's JSON parameter and lock set moderate. */
const UPSERT_CHUNK_ROWS = 5_000;

export class PendingChangeRepository {
  /**
   * Merges the changes into the staging table, field by field, newest (ts, seq) winning
   * (invariants 2-4: the SQL merge is commutative and idempotent, so redelivery changes nothing).
   * Rows are written in key order, so two writers to overlapping contacts cannot deadlock.
   */
  async merge(db: EntityManager, changes: StagedChange[]): Promise<void> {
    const sorted = [...changes].sort((a, b) =>
      a.keyType === b.keyType ? (a.keyValue < b.keyValue ? -1 : a.keyValue > b.keyValue ? 1 : 0) : a.keyType < b.keyType ? -1 : 1,
    );
    for (let start = 0; start < sorted.length; start += UPSERT_CHUNK_ROWS) {
      const rows = sorted
        .slice(start, start + UPSERT_CHUNK_ROWS)
        .map((change) => ({ t: change.keyType, k: change.keyValue, f: toStored(change.fields) }));
      // Invariant 1 and 2: one statement merges every contact of the batch under the row locks.
      await db.query(
        `INSERT INTO pending_change AS p (key_type, key_value, fields)
         SELECT r.t, r.k, r.f FROM jsonb_to_recordset($1::jsonb) AS r(t text, k text, f jsonb)
         ON CONFLICT (key_type, key_value) DO UPDATE
           SET fields = caac_sync_merge_fields(p.fields, EXCLUDED.fields), updated_at = now()`,
        [JSON.stringify(rows)],
      );
    }
  }
}
