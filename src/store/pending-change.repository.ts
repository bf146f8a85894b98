import type { EntityManager } from 'typeorm';
import type { KeyType, StampedPatch } from '../profile';
import { fromStored, toStored, type StoredStampedPatch } from './stored-patch';

/** A contact's coalesced changes from one Kafka batch, ready to merge into the staging table. */
export interface StagedChange {
  keyType: KeyType;
  keyValue: string;
  fields: StampedPatch;
  /** When the change was first staged (wall clock); a put-back keeps its place in the queue. */
  firstStagedAt?: Date;
  /** Times the contact's row failed in an import without naming a field; a new change has none. */
  rowFailures?: number;
  /** The message of the change's newest stamp; none for put-backs and requeues, which keep the stored one. */
  source?: ChangeSource;
}

/** A Kafka message that staged a change, and the source time it was stamped with. */
export interface ChangeSource {
  topic: string;
  partition: number;
  /** Also the stamp's `seq`, so (ts, offset) orders sources as stamps order fields. */
  offset: string;
  ts: number;
}

/** Rows per statement: keeps one upsert's JSON parameter and lock set moderate. */
const UPSERT_CHUNK_ROWS = 5_000;

/**
 * The incoming change's source replaces the stored one when it is newer by (ts, offset). A plain
 * expression repeated per column: cheaper on the ingest path than a sub-select per row.
 */
const NEWER_SOURCE = `(EXCLUDED.source_topic IS NOT NULL
  AND (p.source_topic IS NULL OR (EXCLUDED.source_ts, EXCLUDED.source_offset) > (p.source_ts, p.source_offset)))`;

/** The backlog of one key type: a few counter rows and one index probe, however large the backlog. */
export interface BacklogStats {
  keyType: KeyType;
  contacts: number;
  oldestAgeSeconds: number;
}

export class PendingChangeRepository {
  /** Per key type: the true pending count (kept by triggers) and the oldest pending contact's age. */
  async backlog(db: EntityManager, keyTypes: readonly KeyType[]): Promise<BacklogStats[]> {
    const rows: Array<{ key_type: KeyType; contacts: string; oldest_s: number | null }> = await db.query(
      `SELECT t.key_type,
              coalesce((SELECT sum(c.contacts) FROM pending_contact_count c WHERE c.key_type = t.key_type), 0)::text AS contacts,
              (SELECT extract(epoch FROM now() - q.first_staged_at)::float8
                 FROM pending_change q WHERE q.key_type = t.key_type ORDER BY q.first_staged_at LIMIT 1) AS oldest_s
         FROM unnest($1::text[]) AS t(key_type)`,
      [keyTypes],
    );
    return rows.map((row) => ({ keyType: row.key_type, contacts: Number(row.contacts), oldestAgeSeconds: Math.max(0, row.oldest_s ?? 0) }));
  }

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
        .map((change) => ({
          t: change.keyType,
          k: change.keyValue,
          f: toStored(change.fields),
          s: change.firstStagedAt ?? null,
          n: change.rowFailures,
          ...(change.source ? { st: change.source.topic, sp: change.source.partition, so: change.source.offset, sts: change.source.ts } : {}),
        }));
      // Invariant 1 and 2: one statement merges every contact of the batch under the row locks.
      // The source follows the newest (ts, offset), so redelivery and merge order leave it as it
      // is; an incoming change without a source keeps the stored one.
      await db.query(
        `INSERT INTO pending_change AS p (key_type, key_value, fields, first_staged_at, row_failures, source_topic, source_partition, source_offset, source_ts)
         SELECT r.t, r.k, r.f, coalesce(r.s, now()), coalesce(r.n, 0), r.st, r.sp, r.so, r.sts
           FROM jsonb_to_recordset($1::jsonb) AS r(t text, k text, f jsonb, s timestamptz, n integer, st text, sp integer, so bigint, sts bigint)
         ON CONFLICT (key_type, key_value) DO UPDATE
           SET fields = caac_sync_merge_fields(p.fields, EXCLUDED.fields),
               first_staged_at = least(p.first_staged_at, EXCLUDED.first_staged_at),
               row_failures = greatest(p.row_failures, EXCLUDED.row_failures),
               source_topic = CASE WHEN ${NEWER_SOURCE} THEN EXCLUDED.source_topic ELSE p.source_topic END,
               source_partition = CASE WHEN ${NEWER_SOURCE} THEN EXCLUDED.source_partition ELSE p.source_partition END,
               source_offset = CASE WHEN ${NEWER_SOURCE} THEN EXCLUDED.source_offset ELSE p.source_offset END,
               source_ts = CASE WHEN ${NEWER_SOURCE} THEN EXCLUDED.source_ts ELSE p.source_ts END,
               updated_at = now()`,
        [JSON.stringify(rows)],
      );
    }
  }
}

/** Per key type: pending contacts (counted up to a cap) and the age of the oldest, by the database clock. */
export interface BacklogEntry {
  keyType: KeyType;
  contacts: number;
  oldestAgeMs: number | null;
}

export interface ClaimedChange {
  keyValue: string;
  fields: StampedPatch;
  firstStagedAt: Date;
  rowFailures: number;
}

export class PendingChangeQueue {
  /**
   * How much waits per key type. Counting stops at `countCap`, so the cost stays flat however
   * large the backlog grows (invariant 9); ages come from the database clock, shared by instances.
   */
  async backlog(db: EntityManager, keyTypes: readonly KeyType[], countCap: number): Promise<BacklogEntry[]> {
    const rows: Array<{ key_type: KeyType; n: number; oldest_ms: string | null }> = await db.query(
      `SELECT t.key_type,
              (SELECT count(*)::int FROM (SELECT 1 FROM pending_change q WHERE q.key_type = t.key_type LIMIT $1) c) AS n,
              (SELECT (extract(epoch FROM now() - q.first_staged_at) * 1000)::bigint::text
                 FROM pending_change q WHERE q.key_type = t.key_type ORDER BY q.first_staged_at LIMIT 1) AS oldest_ms
         FROM unnest($2::text[]) AS t(key_type)`,
      [countCap, keyTypes],
    );
    return rows.map((row) => ({ keyType: row.key_type, contacts: row.n, oldestAgeMs: row.oldest_ms === null ? null : Number(row.oldest_ms) }));
  }

  /**
   * Removes up to `limit` of the oldest pending contacts of one key type and returns them; the
   * caller's transaction puts them into an import batch, so they move atomically (invariant 1).
   * Rows locked by an ingest transaction are skipped and stay for the next claim.
   */
  async take(db: EntityManager, keyType: KeyType, limit: number): Promise<ClaimedChange[]> {
    const rows: Array<{ key_value: string; fields: StoredStampedPatch; first_staged_at: Date; row_failures: number }> = await db.query(
      // (A CTE, so the driver hands back the rows rather than a DELETE's affected count.)
      // TRICKY: the picked keys go in as an array, so the delete is primary-key lookups whatever
      // the planner estimates; as a join, a queue of some 50,000 rows was hash-joined by a scan of
      // the whole table on every take.
      `WITH taken AS (
         DELETE FROM pending_change p
          WHERE p.key_type = $1
            AND p.key_value = ANY(ARRAY(SELECT key_value FROM pending_change WHERE key_type = $1
                                         ORDER BY first_staged_at LIMIT $2 FOR UPDATE SKIP LOCKED))
         RETURNING p.key_value, p.fields, p.first_staged_at, p.row_failures)
       SELECT key_value, fields, first_staged_at, row_failures FROM taken`,
      [keyType, limit],
    );
    return rows.map((row) => ({ keyValue: row.key_value, fields: fromStored(row.fields), firstStagedAt: row.first_staged_at, rowFailures: row.row_failures }));
  }
}
