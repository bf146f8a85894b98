import type { EntityManager } from 'typeorm';
import { TIED } from '../importer/contact-identity.repository';
import { KEY_TYPES, type KeyType } from '../profile';

/** Contacts reconciled per statement: a few seconds of work, far inside the 60 s statement timeout. */
export const RECONCILE_CHUNK = 5_000;
/** Export rows whose keys are recorded per statement: cheap rows (a few keys each), well inside the timeout. */
export const IDENTITY_CHUNK = 20_000;

/** A complete export that reconcile has not yet learned from. */
export interface ExportToReconcile {
  id: string;
  exportedAt: Date;
  /** The export's requested columns; null: every field. */
  fields: string[] | null;
  /** The file's header as the export runner recorded it (contact_id first); null: not recorded. */
  columns: string[] | null;
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
  /**
   * Drifted fields left to the report under crm-wins: the service has a newer value for that
   * contact's field (through this key or another of the contact), sent, pending or in flight.
   */
  newerKnown: number;
  /** (key type, key value, contact) pairs the export tied (contact_identity). */
  identityKeys: number;
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
    const rows: Array<{ id: string; requested_at: Date; fields: string[] | null; columns: string[] | null }> = await db.query(
      `SELECT id::text AS id, requested_at, fields, columns FROM export_job
        WHERE account = $1 AND status = 'done' AND table_done_at IS NOT NULL AND reconciled_at IS NULL
        ORDER BY id DESC LIMIT 1`,
      [account],
    );
    const row = rows[0];
    return row && { id: row.id, exportedAt: row.requested_at, fields: row.fields, columns: Array.isArray(row.columns) ? row.columns : null };
  }

  /**
   * The columns the export's file has: its header as recorded on the job, else every column that
   * at least one of its rows has a cell in. A column the file lacks (asked for and not sent, or an
   * export adopted with other fields) is unknown to reconcile, never read as cleared. TRICKY: with
   * no header recorded, a column whose every cell is empty is taken as absent: a clear it shows is
   * missed (reported by the next export), never invented.
   */
  async fileColumns(db: EntityManager, job: ExportToReconcile): Promise<string[]> {
    if (job.columns !== null) return job.columns.filter((column) => column !== 'contact_id');
    // Chunk by chunk: one statement over every row of a large export could outlast the statement timeout.
    const columns = new Set<string>();
    let after = '';
    for (;;) {
      const rows: Array<{ last: string | null; columns: string[] | null }> = await db.query(
        `WITH chunk AS MATERIALIZED (
           SELECT contact_id, fields FROM caac_contact WHERE export_id = $1 AND contact_id > $2 ORDER BY contact_id LIMIT ${IDENTITY_CHUNK})
         SELECT (SELECT max(contact_id) FROM chunk) AS last, (SELECT array_agg(DISTINCT k) FROM chunk c, jsonb_object_keys(c.fields) k) AS columns`,
        [job.id, after],
      );
      const { last, columns: found } = rows[0]!;
      if (last === null) break;
      for (const column of found ?? []) columns.add(column);
      after = last;
    }
    return [...columns].sort();
  }

  /**
   * Records which keys reach which CAAC contact in this export (contact_identity), chunk by chunk,
   * then drops what older exports said: readers meanwhile see a key tied to two contacts at worst,
   * which they do not use. A key value two contacts share gets a row for each (ambiguous). Keys
   * the service moved in a batch that ended before `cutoffMs` are shown here where they belong
   * now: their untie marks go. Running it again for the same export changes nothing.
   */
  async learnIdentity(db: EntityManager, exportId: string, cutoffMs: number): Promise<number> {
    let keys = 0;
    let after = '';
    for (;;) {
      const chunk: Array<{ last: string | null; keys: number }> = await db.query(
        `WITH chunk AS MATERIALIZED (
           SELECT contact_id, fields FROM caac_contact WHERE export_id = $1 AND contact_id > $2 ORDER BY contact_id LIMIT ${IDENTITY_CHUNK}),
         tied AS (
           INSERT INTO contact_identity AS i (key_type, key_value, contact_id, export_id)
           SELECT k.key_type, CASE WHEN k.key_type = 'display_email' THEN lower(btrim(c.fields->>k.key_type)) ELSE c.fields->>k.key_type END, c.contact_id, $1
             FROM chunk c CROSS JOIN unnest($3::text[]) AS k(key_type)
            WHERE c.fields ? k.key_type
           ON CONFLICT (key_type, key_value, contact_id) DO UPDATE SET export_id = EXCLUDED.export_id
             WHERE i.export_id <> EXCLUDED.export_id
           RETURNING 1)
         SELECT (SELECT max(contact_id) FROM chunk) AS last,
                (SELECT count(*) FROM chunk c CROSS JOIN unnest($3::text[]) AS k(key_type) WHERE c.fields ? k.key_type)::int AS keys,
                (SELECT count(*) FROM tied)::int AS written`,
        [exportId, after, KEY_TYPES],
      );
      const { last, keys: n } = chunk[0]!;
      if (last === null) break;
      keys += n;
      after = last;
    }
    await db.query(`DELETE FROM contact_identity WHERE export_id <> $1`, [exportId]);
    await db.query(
      `DELETE FROM contact_identity_untied u USING import_batch b
        WHERE b.id = u.batch_id AND b.finished_at IS NOT NULL AND b.finished_at < to_timestamp($1::double precision / 1000)`,
      [cutoffMs],
    );
    return keys;
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
  async learn(db: EntityManager, job: ExportToReconcile, columns: string[] | null, cutoffMs: number): Promise<{ matched: number; learned: number }> {
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
             SELECT $2, $1, up.key_value, f.key, x.extras->'dv', to_timestamp((x.extras->>'dat')::bigint / 1000.0), k.fields->>f.key
               FROM updated up JOIN chunk k ON k.key_value = up.key_value, jsonb_each(up.fields) f,
                    LATERAL (SELECT caac_sync_state_extras(f.value) AS extras) x
              WHERE x.extras->>'dx' = $2::text
             -- A run again over the same export finds the rows of the first: the same drift.
             ON CONFLICT (export_id, key_type, key_value, field) DO NOTHING
             RETURNING 1)
           SELECT (SELECT max(key_value) FROM chunk) AS last,
                  (SELECT count(*) FROM chunk WHERE known)::int AS matched,
                  (SELECT count(*) FROM inserted)::int AS learned,
                  (SELECT count(*) FROM drifted)::int AS drifted`,
          [keyType, job.id, columns, cutoffMs, after],
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
   * with the stamp it had, but only when it is the newest the service has for that contact's
   * field: nothing newer (by stamp, then the greater hash, as every merge orders them) pending or
   * in flight through this key, nor sent, pending or in flight through another key the export tied
   * to the same contact (invariant 7). Otherwise the drift is reported and left: sending an older
   * value would make CAAC, and the next export, alternate between two values.
   * Fields whose sent value is unknown (imported while DRIFT_POLICY was report, which keeps no
   * values, or before values were kept) are left to the report: requeueing them would clear them.
   */
  async requeueDrift(db: EntityManager, exportId: string): Promise<{ requeued: number; newerKnown: number }> {
    const rows: Array<{ requeued: number; drifted: number }> = await db.query(
      `WITH drifted AS (
         SELECT d.key_type, d.key_value, d.field, d.sent_value,
                e.core[2]::bigint AS ts, (e.extras->>'dseq')::bigint AS seq, e.extras->>'dh' AS h
           FROM contact_drift d
           JOIN contact_state s ON s.key_type = d.key_type AND s.key_value = d.key_value,
                LATERAL (SELECT caac_sync_state_core(s.fields->d.field) AS core, caac_sync_state_extras(s.fields->d.field) AS extras) e
          WHERE d.export_id = $1 AND d.sent_value IS NOT NULL AND e.extras->>'dx' = $1::text),
       contacts AS (SELECT DISTINCT key_type, key_value FROM drifted),
       -- Every key of a drifted contact: its own, and the others the export tied to the same contact.
       keys AS (
         SELECT c.key_type AS dk, c.key_value AS dv, c.key_type, c.key_value, true AS own FROM contacts c
         UNION ALL
         SELECT c.key_type, c.key_value, s.key_type, s.key_value, false
           FROM contacts c
           JOIN contact_identity i ON i.key_type = c.key_type AND i.key_value = c.key_value AND ${TIED('i')}
           JOIN contact_identity s ON s.contact_id = i.contact_id AND s.key_type <> c.key_type AND ${TIED('s')}),
       -- The stamps the service has per field: sent through another key (its own sent entry is the
       -- drifted one), pending, or in an open batch.
       known AS (
         SELECT k.dk, k.dv, f.key AS field, e.core[2]::bigint AS ts,
                coalesce(e.extras->>'dseq', e.core[3])::bigint AS seq, coalesce(e.extras->>'dh', e.core[1]) AS h
           FROM keys k JOIN contact_state c ON NOT k.own AND c.key_type = k.key_type AND c.key_value = k.key_value, jsonb_each(c.fields) f,
                LATERAL (SELECT caac_sync_state_core(f.value) AS core, caac_sync_state_extras(f.value) AS extras) e
         UNION ALL
         SELECT k.dk, k.dv, f.key, (f.value->>'ts')::bigint, (f.value->>'seq')::bigint, caac_sync_field_hash(f.value->'v')
           FROM keys k JOIN pending_change p ON p.key_type = k.key_type AND p.key_value = k.key_value, jsonb_each(p.fields) f
         UNION ALL
         SELECT k.dk, k.dv, f.key, (f.value->>'ts')::bigint, (f.value->>'seq')::bigint, caac_sync_field_hash(f.value->'v')
           FROM keys k
           JOIN import_batch b ON b.key_type = k.key_type AND b.status IN ('claimed', 'submitting', 'submitted', 'retrying')
           JOIN import_batch_item i ON i.batch_id = b.id AND i.key_value = k.key_value, jsonb_each(i.fields) f),
       newest AS (
         SELECT d.* FROM drifted d
          WHERE NOT EXISTS (SELECT 1 FROM known n WHERE n.dk = d.key_type AND n.dv = d.key_value AND n.field = d.field
                               AND (n.ts, n.seq, n.h COLLATE "C") > (d.ts, d.seq, d.h COLLATE "C"))),
       patches AS (
         SELECT key_type, key_value, jsonb_object_agg(field, jsonb_build_object('v', sent_value, 'ts', ts, 'seq', seq)) AS fields, count(*)::int AS n
           FROM newest GROUP BY key_type, key_value),
       queued AS (
         INSERT INTO pending_change AS p (key_type, key_value, fields)
         SELECT key_type, key_value, fields FROM patches ORDER BY key_type, key_value
         ON CONFLICT (key_type, key_value) DO UPDATE
           SET fields = caac_sync_merge_fields(p.fields, EXCLUDED.fields), updated_at = now()
         RETURNING 1)
       SELECT coalesce((SELECT sum(n) FROM patches), 0)::int AS requeued, (SELECT count(*) FROM drifted)::int AS drifted,
              (SELECT count(*) FROM queued)::int AS contacts`,
      [exportId],
    );
    const { requeued, drifted } = rows[0]!;
    return { requeued, newerKnown: drifted - requeued };
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
