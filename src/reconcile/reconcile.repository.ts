import type { EntityManager } from 'typeorm';
import { KEY_TYPES, type KeyType } from '../profile';

/** Contacts reconciled per statement: a few seconds of work, far inside the 60 s statement timeout. */
export const RECONCILE_CHUNK = 5_000;

/** A complete export that reconcile has not yet learned from. */
export interface ExportToReconcile {
  id: string;
  exportedAt: Date;
  /** The export's requested columns; null: every field. */
  fields: string[] | null;
}

/** What one export taught, as recorded on its job row (`export_job.reconcile`). */
export interface ReconcileOutcome {
  /** contact_state rows the export matched, per key type. */
  matched: number;
  /** contact_state rows created for contacts the service had never seen. */
  learned: number;
  /** Fields whose CAAC value differs from the one last sent (imported before the cutoff), by field. */
  driftFields: Record<string, number>;
  /** Contacts (key type, key value) with at least one drifted field. */
  driftContacts: number;
  /** Drifted fields queued again (DRIFT_POLICY=crm-wins). */
  requeued: number;
}

/** One drifted field of the latest reconciled export, for the admin route. */
export interface DriftRow {
  /** The row's id: what a page cursor names (never the key, which is personal data). */
  id: string;
  keyType: string;
  keyValue: string;
  field: string;
  /** The value last sent, kept only under DRIFT_POLICY=crm-wins; null also when it is not known. */
  sentValue: unknown;
  sentAt: Date | null;
  caacValue: string | null;
}

/**
 * The key value a CAAC export cell stands for, as ingest normalises keys: e-mail addresses are
 * compared trimmed and lower-cased; CAAC holds mobiles in E.164 already, other keys as given.
 */
function normalisedKey(keyType: KeyType): string {
  return keyType === 'display_email' ? `lower(btrim(c.fields->>'display_email'))` : `c.fields->>'${keyType}'`;
}

/**
 * Reads what the export stored in caac_contact and writes what it teaches into contact_state,
 * set-based (caac_sync_reconcile_fields). `learn` commits chunk by chunk (each statement on its
 * own, on one connection, for its temporary table): a crash leaves learned chunks learned, and
 * their drift rows kept, so running the export again completes it.
 */
export class ReconcileRepository {
  /** Only one reconcile at a time, on this connection's session (released with it). */
  async tryLock(db: EntityManager): Promise<boolean> {
    const rows: Array<{ locked: boolean }> = await db.query(`SELECT pg_try_advisory_lock(hashtext('caac_sync_reconcile')) AS locked`);
    return rows[0]!.locked;
  }

  async unlock(db: EntityManager): Promise<void> {
    await db.query(`SELECT pg_advisory_unlock(hashtext('caac_sync_reconcile'))`);
  }

  /** The newest complete export in caac_contact not yet reconciled. */
  async nextExport(db: EntityManager, account: string): Promise<ExportToReconcile | undefined> {
    const rows: Array<{ id: string; requested_at: Date; fields: string[] | null }> = await db.query(
      `SELECT id::text AS id, requested_at, fields FROM export_job
        WHERE account = $1 AND status = 'done' AND table_done_at IS NOT NULL AND reconciled_at IS NULL
        ORDER BY id DESC LIMIT 1`,
      [account],
    );
    const row = rows[0];
    return row && { id: row.id, exportedAt: row.requested_at, fields: row.fields };
  }

  /** Whether caac_contact holds this export's rows (a newer export may have replaced them). */
  async tableHolds(db: EntityManager, exportId: string): Promise<boolean> {
    const rows: unknown[] = await db.query(
      `SELECT 1 FROM caac_contact WHERE export_id = $1 LIMIT 1`,
      [exportId],
    );
    if (rows.length > 0) return true;
    // An empty export holds no rows, and the table is then empty too.
    const any: unknown[] = await db.query(`SELECT 1 FROM caac_contact LIMIT 1`);
    return any.length === 0;
  }

  /**
   * Learns one export, per key type: every contact_state row its import keys match is reconciled
   * field by field (the staleness rule lives in caac_sync_reconcile_fields); contacts the service
   * has never seen are learned. A key value two exported contacts share is skipped: which one
   * the service means cannot be known. Drifted fields are listed in contact_drift.
   */
  async learn(db: EntityManager, job: ExportToReconcile, cutoffMs: number): Promise<{ matched: number; learned: number }> {
    let matched = 0;
    let learned = 0;
    await db.query(`CREATE TEMP TABLE IF NOT EXISTS reconcile_key (key_value text PRIMARY KEY, fields jsonb NOT NULL, known boolean NOT NULL)`);
    for (const keyType of KEY_TYPES) {
      // The export's contacts by this key, decided up front (new or known) before anything is
      // written: a probe of contact_state while the same statement inserts into it would walk the
      // rows inserted so far. ANALYZE first, so the probes use the whole key (bounded sample: cheap).
      await db.query(`TRUNCATE reconcile_key`);
      await db.query(`ANALYZE contact_state`);
      await db.query(
        `INSERT INTO reconcile_key (key_value, fields, known)
         SELECT u.key_value, u.fields, EXISTS (SELECT 1 FROM contact_state s WHERE s.key_type = $1 AND s.key_value = u.key_value)
           FROM (SELECT key_value, (array_agg(fields))[1] AS fields
                   FROM (SELECT ${normalisedKey(keyType)} AS key_value, c.fields FROM caac_contact c WHERE c.export_id = $2 AND c.fields ? $1) src
                  GROUP BY key_value HAVING count(*) = 1) u`,
        [keyType, job.id],
      );
      await db.query(`ANALYZE reconcile_key`);
      let after = '';
      for (;;) {
        // Chunks keep each statement well inside the statement timeout, whatever the export's size.
        const chunk: Array<{ last: string | null; matched: number; learned: number }> = await db.query(
          `WITH chunk AS MATERIALIZED (
             SELECT key_value, fields, known FROM reconcile_key WHERE key_value > $5 ORDER BY key_value LIMIT ${RECONCILE_CHUNK}),
           updated AS (
             -- TRICKY: computed from the row as it is when locked (READ COMMITTED re-reads a row an
             -- import changed meanwhile), so an import recorded concurrently is never overwritten.
             -- Computed twice (condition and value) so that an unchanged row is never written.
             UPDATE contact_state s
                SET fields = caac_sync_reconcile_fields(s.fields, s.updated_at, k.fields, $3::text[], $4, $2)
               FROM chunk k
              WHERE k.known AND s.key_type = $1 AND s.key_value = k.key_value
                AND caac_sync_reconcile_fields(s.fields, s.updated_at, k.fields, $3::text[], $4, $2) <> s.fields
             RETURNING s.key_value, s.fields),
           inserted AS (
             INSERT INTO contact_state (key_type, key_value, fields)
             SELECT $1, k.key_value, caac_sync_reconcile_fields('{}'::jsonb, now(), k.fields, $3::text[], $4, $2)
               FROM chunk k WHERE NOT k.known
             ON CONFLICT (key_type, key_value) DO NOTHING
             RETURNING 1),
           drifted AS (
             INSERT INTO contact_drift (export_id, key_type, key_value, field, sent_value, sent_at, caac_value)
             SELECT $2, $1, up.key_value, f.key, f.value->'dv', to_timestamp((f.value->>'dat')::bigint / 1000.0), k.fields->>f.key
               FROM updated up JOIN chunk k ON k.key_value = up.key_value, jsonb_each(up.fields) f
              WHERE f.value->>'dx' = $2::text
             RETURNING 1)
           SELECT (SELECT max(key_value) FROM chunk) AS last,
                  (SELECT count(*) FROM chunk WHERE known)::int AS matched,
                  (SELECT count(*) FROM inserted)::int AS learned,
                  (SELECT count(*) FROM drifted)::int AS drifted`,
          [keyType, job.id, job.fields, cutoffMs, after],
        );
        const { last, matched: m, learned: l } = chunk[0]!;
        if (last === null) break;
        matched += m;
        learned += l;
        after = last;
      }
    }
    await db.query(`DROP TABLE reconcile_key`);
    return { matched, learned };
  }

  /** The export's drift, counted; the drift rows of older exports dropped. */
  async summarise(db: EntityManager, exportId: string): Promise<Pick<ReconcileOutcome, 'driftFields' | 'driftContacts'>> {
    const job = { id: exportId };
    // Only the latest export's drift is kept.
    await db.query(`DELETE FROM contact_drift WHERE export_id <> $1`, [job.id]);
    const counts: Array<{ field: string; n: number }> = await db.query(
      `SELECT field, count(*)::int AS n FROM contact_drift WHERE export_id = $1 GROUP BY field ORDER BY field`,
      [job.id],
    );
    const contacts: Array<{ n: number }> = await db.query(
      `SELECT count(*)::int AS n FROM (SELECT DISTINCT key_type, key_value FROM contact_drift WHERE export_id = $1) d`,
      [job.id],
    );
    return { driftFields: Object.fromEntries(counts.map((row) => [row.field, row.n])), driftContacts: contacts[0]!.n };
  }

  /**
   * DRIFT_POLICY=crm-wins: the value last sent for each drifted field goes back into pending_change
   * with the stamp it had, so a newer CRM change (staged or to come) still wins the merge.
   * Fields whose sent value is unknown (imported while DRIFT_POLICY was report, which keeps no
   * values, or before values were kept) are left to the report: requeueing them would clear them.
   */
  async requeueDrift(db: EntityManager, exportId: string): Promise<number> {
    const rows: Array<{ n: number }> = await db.query(
      `WITH patches AS (
         SELECT d.key_type, d.key_value,
                jsonb_object_agg(d.field, jsonb_build_object('v', d.sent_value, 'ts', (s.fields->d.field->>'ts')::bigint,
                                                              'seq', (s.fields->d.field->>'dseq')::bigint)) AS fields,
                count(*)::int AS n
           FROM contact_drift d
           JOIN contact_state s ON s.key_type = d.key_type AND s.key_value = d.key_value
          WHERE d.export_id = $1 AND d.sent_value IS NOT NULL AND s.fields->d.field->>'dx' = $1::text
          GROUP BY d.key_type, d.key_value),
       queued AS (
         INSERT INTO pending_change AS p (key_type, key_value, fields)
         SELECT key_type, key_value, fields FROM patches ORDER BY key_type, key_value
         ON CONFLICT (key_type, key_value) DO UPDATE
           SET fields = caac_sync_merge_fields(p.fields, EXCLUDED.fields), updated_at = now()
         RETURNING 1)
       SELECT coalesce(sum(n), 0)::int AS n, (SELECT count(*) FROM queued)::int AS contacts FROM patches`,
      [exportId],
    );
    return rows[0]!.n;
  }

  async markReconciled(db: EntityManager, exportId: string, outcome: ReconcileOutcome | { superseded: true }): Promise<void> {
    await db.query(`UPDATE export_job SET reconciled_at = now(), reconcile = $2 WHERE id = $1`, [exportId, JSON.stringify(outcome)]);
  }

  /** Older complete exports never reconciled: a newer one replaced their rows; nothing is left to learn. */
  async markSuperseded(db: EntityManager, account: string, newerThan: string): Promise<void> {
    await db.query(
      `UPDATE export_job SET reconciled_at = now(), reconcile = jsonb_build_object('superseded_by', $2::text)
        WHERE account = $1 AND id < $2 AND status = 'done' AND reconciled_at IS NULL`,
      [account, newerThan],
    );
  }

  /**
   * A page of an export's drift, in (key type, key value, field) order after the row `afterId`;
   * undefined when that row is not one of the export's (any more: a newer export replaced them).
   */
  async driftPage(db: EntityManager, exportId: string, limit: number, afterId: string | undefined): Promise<DriftRow[] | undefined> {
    if (afterId !== undefined) {
      const found: unknown[] = await db.query(`SELECT 1 FROM contact_drift WHERE id = $1 AND export_id = $2`, [afterId, exportId]);
      if (found.length === 0) return undefined;
    }
    const rows: Array<{ id: string; key_type: string; key_value: string; field: string; sent_value: unknown; sent_at: Date | null; caac_value: string | null }> = await db.query(
      `SELECT id::text AS id, key_type, key_value, field, sent_value, sent_at, caac_value FROM contact_drift
        WHERE export_id = $1
          AND ($2::bigint IS NULL OR (key_type, key_value, field) > (SELECT key_type, key_value, field FROM contact_drift WHERE id = $2))
        ORDER BY key_type, key_value, field LIMIT $3`,
      [exportId, afterId ?? null, limit],
    );
    return rows.map((row) => ({ id: row.id, keyType: row.key_type, keyValue: row.key_value, field: row.field, sentValue: row.sent_value, sentAt: row.sent_at, caacValue: row.caac_value }));
  }
}
