import type { DataSource } from 'typeorm';
import { OPEN_STATUSES } from '../importer/import-batch.repository';
import type { KeyType } from '../profile';
import { PendingChangeRepository, type BacklogStats } from '../store/pending-change.repository';

export type { BacklogStats };


/** The pipeline's state in Postgres, as metrics report it on every instance. */
export class PipelineStatsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Per key type: the true pending count (kept by triggers) and the oldest pending contact's age. */
  backlog(keyTypes: readonly KeyType[]): Promise<BacklogStats[]> {
    return new PendingChangeRepository().backlog(this.dataSource.manager, keyTypes);
  }

  /**
   * Folds the pending count's delta rows into one row per key type, in one statement: it deletes
   * only rows committed when it began, so deltas written meanwhile stay for the next time. Skips
   * (returns false) while another instance compacts.
   */
  async compactPendingCount(): Promise<boolean> {
    return this.dataSource.transaction(async (db) => {
      const [{ locked }]: Array<{ locked: boolean }> = await db.query(`SELECT pg_try_advisory_xact_lock(hashtext('caac-sync.pending-count')) AS locked`);
      if (!locked) return false;
      await db.query(
        `WITH folded AS (DELETE FROM pending_contact_count RETURNING key_type, contacts)
         INSERT INTO pending_contact_count (key_type, contacts)
         SELECT key_type, sum(contacts) FROM folded GROUP BY key_type HAVING sum(contacts) <> 0`,
      );
      return true;
    });
  }

  /** Seconds since the account's open import batch was last sent (or claimed); 0 when none is open. */
  async inFlightAgeSeconds(account: string): Promise<number> {
    const [row]: Array<{ age_s: number | null }> = await this.dataSource.query(
      `SELECT extract(epoch FROM now() - coalesce(submitted_at, created_at))::float8 AS age_s
         FROM import_batch WHERE account = $1 AND status = ANY($2::text[]) ORDER BY id LIMIT 1`,
      [account, OPEN_STATUSES],
    );
    return Math.max(0, row?.age_s ?? 0);
  }

  /** Dead letters not yet on the topic, and the oldest one's age (seconds, 0 when none). */
  async outbox(): Promise<{ unpublished: number; oldestAgeSeconds: number }> {
    const [row]: Array<{ n: string; oldest_s: number | null }> = await this.dataSource.query(
      `SELECT count(*)::text AS n, extract(epoch FROM now() - min(created_at))::float8 AS oldest_s
         FROM dead_letter_outbox WHERE published_at IS NULL`,
    );
    return { unpublished: Number(row?.n ?? 0), oldestAgeSeconds: Math.max(0, row?.oldest_s ?? 0) };
  }

  /**
   * The account's exports as every instance sees them: seconds since the newest complete export
   * was requested (by the database clock; null before the first) and whether the newest export
   * that ended did so without delivering (failed or expired; null before any ended), and whether
   * one waits as held for its deletions to be allowed (export_job_one_held). An instance
   * that ran none of them reports the same as the one that did. Index probes of export_job.
   */
  async exports(account: string): Promise<{ newestCompleteAgeSeconds: number | null; lastEndedFailed: boolean | null; held: boolean }> {
    const [row]: Array<{ age_s: number | null; last_status: string | null; held: boolean }> = await this.dataSource.query(
      `SELECT (SELECT extract(epoch FROM now() - requested_at)::float8 FROM export_job
                WHERE account = $1 AND status = 'done' ORDER BY requested_at DESC LIMIT 1) AS age_s,
              (SELECT status FROM export_job
                WHERE account = $1 AND status IN ('done', 'failed', 'expired') ORDER BY id DESC LIMIT 1) AS last_status,
              EXISTS (SELECT 1 FROM export_job WHERE account = $1 AND status = 'held') AS held`,
      [account],
    );
    return {
      newestCompleteAgeSeconds: row?.age_s == null ? null : Math.max(0, row.age_s),
      lastEndedFailed: row?.last_status == null ? null : row.last_status !== 'done',
      held: row?.held === true,
    };
  }

  /** The next offset stored per partition of the group's topics (-1: the partition was never stored). */
  async storedOffsets(groupId: string, topics: readonly string[]): Promise<Map<string, bigint>> {
    const rows: Array<{ topic: string; partition: number; next_offset: string }> = await this.dataSource.query(
      `SELECT topic, partition, next_offset::text AS next_offset FROM consumer_offset WHERE group_id = $1 AND topic = ANY($2::text[])`,
      [groupId, topics],
    );
    return new Map(rows.map((row) => [`${row.topic}|${row.partition}`, BigInt(row.next_offset)]));
  }
}
