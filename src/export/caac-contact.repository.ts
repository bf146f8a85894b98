import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Writable } from 'node:stream';

/** A staged contact as read back for the topic: its id, its fields as JSON text, its line in the file. */
export interface StagedContact {
  contactId: string;
  fieldsJson: string;
  line: number;
}

/** A staged row that was refused, for its dead letter. */
export interface RefusedRow {
  line: number;
  contactId: string | null;
  reason: string;
  content: Buffer;
}

/** What merging the staged export would delete from the mirror, measured before anything changes. */
export interface DeletionPlan {
  /** Contacts the table holds, and those of them the export lacks. */
  table: { size: number; deletions: number } | undefined;
  /** Contacts the topic holds a value for, and those of them the export lacks (tombstones). */
  topic: { size: number; deletions: number } | undefined;
  /** Refused rows whose contact the mirror holds: they keep their previous row. */
  keptOnRefusal: number;
  /** Refused rows without a readable contact_id: any contact could be one of them. */
  unattributed: number;
}

/** The export database already mirrors another CAAC account. */
export class MirrorAccountError extends Error {
  readonly code = 'mirror_account_mismatch';
  constructor(
    readonly mirrored: string,
    readonly configured: string,
  ) {
    super(
      `the export database's caac_contact mirrors CAAC account "${mirrored}", and this service is configured for "${configured}" (CAAC_ACCOUNT): ` +
        'point EXPORT_DATABASE_URL at a database of its own, or set CAAC_ACCOUNT to the account this mirror belongs to',
    );
    this.name = 'MirrorAccountError';
  }
}

/** The file's rows did not all reach the staging table: merging it would delete contacts wrongly. */
export class IncompleteStagingError extends Error {
  readonly code = 'staging_incomplete';
  constructor(expected: number, found: number) {
    super(`the staged export holds ${found} rows, not the ${expected} loaded; the file is loaded again`);
    this.name = 'IncompleteStagingError';
  }
}

const STAGING_PREFIX = 'caac_contact_load_';

/**
 * A short tag of one deployment (its CAAC account and its own database), so that deployments
 * sharing an export database never touch each other's staging tables: job ids start at 1 in
 * every service database.
 */
export function deploymentTag(account: string, serviceDatabaseUrl: string): string {
  const url = new URL(serviceDatabaseUrl);
  return createHash('sha256').update(`${account}\n${url.hostname}:${url.port}${url.pathname}`).digest('hex').slice(0, 10);
}

/**
 * The export database (EXPORT_DATABASE_URL, the service's own by default): the `caac_contact`
 * table, one staging table per running or held export, and the ids the export topic holds.
 * TRICKY: this database may not be the service's, so its tables are created here, idempotently,
 * rather than by the service's migrations.
 */
export class CaacContactRepository {
  constructor(
    private readonly pool: Pool,
    /** deploymentTag(): staging tables are named for their deployment and job. */
    private readonly tag: string,
  ) {
    if (!/^[0-9a-f]{1,16}$/.test(tag)) throw new Error(`not a deployment tag: ${tag}`);
  }

  private staging(jobId: string): string {
    if (!/^\d{1,18}$/.test(jobId)) throw new Error(`not an export job id: ${jobId}`);
    return `${STAGING_PREFIX}${this.tag}_${jobId}`;
  }

  /**
   * Creates the tables when missing, and binds the mirror to one CAAC account: the first service
   * to use it records its account, and a service of another account is refused (MirrorAccountError)
   * rather than deleting contacts that are not its own.
   */
  async ensureSchema(account: string): Promise<void> {
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS caac_contact (
        contact_id  text        PRIMARY KEY,
        fields      jsonb       NOT NULL,
        export_id   bigint      NOT NULL,
        exported_at timestamptz NOT NULL
      )`);
    // The contacts the export topic holds a value for, kept as messages are acknowledged, for tombstones.
    await this.pool.query(`CREATE TABLE IF NOT EXISTS caac_contact_topic (contact_id text PRIMARY KEY)`);
    // Tombstones are paged in byte order ("C"), which the primary key's collation cannot serve.
    await this.pool.query(`CREATE INDEX IF NOT EXISTS caac_contact_topic_bytes ON caac_contact_topic (contact_id COLLATE "C")`);
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS caac_contact_mirror (
        one        boolean     PRIMARY KEY DEFAULT true CHECK (one),
        account    text        NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await this.pool.query(`INSERT INTO caac_contact_mirror (account) VALUES ($1) ON CONFLICT DO NOTHING`, [account]);
    const { rows } = await this.pool.query<{ account: string }>(`SELECT account FROM caac_contact_mirror`);
    if (rows[0]!.account !== account) throw new MirrorAccountError(rows[0]!.account, account);
  }

  /** A connection with an empty staging table for the job and a COPY stream into it. */
  async openStaging(jobId: string): Promise<{ client: PoolClient; copy: Writable }> {
    const table = this.staging(jobId);
    const client = await this.pool.connect();
    try {
      await client.query(`DROP TABLE IF EXISTS ${table}`);
      // A refused row has no fields: a reason, its cells (bytes, NULs included), and its contact_id when readable.
      await client.query(`CREATE TABLE ${table} (contact_id text, fields jsonb, line bigint NOT NULL, refused text, content bytea)`);
      // COPY is lifted from the pool's statement timeout: a large file takes minutes.
      await client.query(`SET statement_timeout = 0`);
      return { client, copy: client.query(copyFrom(`COPY ${table} (contact_id, fields, line, refused, content) FROM STDIN`)) };
    } catch (error) {
      client.release(true);
      throw error;
    }
  }

  /** Indexes a fully loaded staging table for the merge and for paging, and returns its row count. */
  async sealStaging(client: PoolClient, jobId: string): Promise<number> {
    const table = this.staging(jobId);
    await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (line)`);
    await client.query(`CREATE INDEX ON ${table} (contact_id)`);
    await client.query(`ANALYZE ${table}`);
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    await client.query(`RESET statement_timeout`);
    return rows[0]!.n;
  }

  async dropStaging(jobId: string): Promise<void> {
    await this.pool.query(`DROP TABLE IF EXISTS ${this.staging(jobId)}`);
  }

  /** Drops this deployment's staging tables of jobs not in `keep` (left by a crash or a superseded export). */
  async dropStagingExcept(keep: string[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, $1)`,
      [`${STAGING_PREFIX}${this.tag}_`],
    );
    const dropped: string[] = [];
    for (const { name } of rows) {
      const jobId = name.slice(`${STAGING_PREFIX}${this.tag}_`.length);
      if (!/^\d{1,18}$/.test(jobId) || keep.includes(jobId)) continue;
      await this.dropStaging(jobId);
      dropped.push(jobId);
    }
    return dropped;
  }

  /** Rows in the job's staging table, contacts and refused alike; undefined when there is none. */
  async stagedCount(jobId: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [this.staging(jobId)]);
    if (!rows[0]!.exists) return undefined;
    const counted = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.staging(jobId)}`);
    return counted.rows[0]!.n;
  }

  /**
   * What the merge would delete, and the refused rows that keep their contact's row. A contact
   * is kept when the file names it at all, refused or not: a refused row is not a deletion.
   */
  async deletionPlan(jobId: string, sinks: { table: boolean; topic: boolean }): Promise<DeletionPlan> {
    const table = this.staging(jobId);
    const measure = async (mirror: 'caac_contact' | 'caac_contact_topic') => {
      const { rows } = await this.pool.query<{ size: number; deletions: number }>(
        `SELECT count(*)::int AS size,
                count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ${table} s WHERE s.contact_id = m.contact_id))::int AS deletions
           FROM ${mirror} m`,
      );
      return rows[0]!;
    };
    const { rows } = await this.pool.query<{ kept: number; unattributed: number }>(
      `SELECT count(DISTINCT s.contact_id) FILTER (WHERE s.contact_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM ${table} g WHERE g.contact_id = s.contact_id AND g.refused IS NULL)
                AND (EXISTS (SELECT 1 FROM caac_contact c WHERE c.contact_id = s.contact_id)
                     OR EXISTS (SELECT 1 FROM caac_contact_topic t WHERE t.contact_id = s.contact_id)))::int AS kept,
              count(*) FILTER (WHERE s.contact_id IS NULL)::int AS unattributed
         FROM ${table} s WHERE s.refused IS NOT NULL`,
    );
    return {
      table: sinks.table ? await measure('caac_contact') : undefined,
      topic: sinks.topic ? await measure('caac_contact_topic') : undefined,
      keptOnRefusal: rows[0]!.kept,
      unattributed: rows[0]!.unattributed,
    };
  }

  /**
   * Makes the table equal to the staged export in one transaction, so readers see the previous
   * export or this one, never a mix: every staged contact upserted, every contact the file does
   * not name deleted (an export is a full snapshot), a contact whose row was refused left as it
   * was. A row of a newer export is never replaced. Refuses a staging table that lacks rows that
   * were loaded.
   */
  async mergeIntoTable(jobId: string, expectedRows: number, exportId: string, exportedAt: Date): Promise<{ rows: number; deleted: number }> {
    const table = this.staging(jobId);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL statement_timeout = 0`); // one statement over the whole mirror
      const { rows: counted } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      if (counted[0]!.n !== expectedRows) throw new IncompleteStagingError(expectedRows, counted[0]!.n);
      // A contact listed twice keeps its last line, as a reader of the file would.
      const upserted = await client.query(
        `INSERT INTO caac_contact (contact_id, fields, export_id, exported_at)
         SELECT DISTINCT ON (contact_id) contact_id, fields, $1::bigint, $2 FROM ${table} WHERE refused IS NULL ORDER BY contact_id, line DESC
         ON CONFLICT (contact_id) DO UPDATE SET fields = EXCLUDED.fields, export_id = EXCLUDED.export_id, exported_at = EXCLUDED.exported_at
          WHERE caac_contact.exported_at <= EXCLUDED.exported_at`,
        [exportId, exportedAt],
      );
      const deleted = await client.query(
        `DELETE FROM caac_contact c WHERE c.exported_at <= $1 AND NOT EXISTS (SELECT 1 FROM ${table} s WHERE s.contact_id = c.contact_id)`,
        [exportedAt],
      );
      await client.query('COMMIT');
      return { rows: upserted.rowCount ?? 0, deleted: deleted.rowCount ?? 0 };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The staged contacts in file order, a page at a time (keyset on the line number); refused rows left out. */
  async stagedPage(jobId: string, afterLine: number, limit: number): Promise<StagedContact[]> {
    // TRICKY: the text copies get names of their own; `ORDER BY line` would otherwise sort the text.
    const { rows } = await this.pool.query<{ contact_id: string; fields_text: string; line_text: string }>(
      `SELECT contact_id, fields::text AS fields_text, line::text AS line_text FROM ${this.staging(jobId)}
        WHERE line > $1 AND refused IS NULL ORDER BY line LIMIT $2`,
      [afterLine, limit],
    );
    return rows.map((row) => ({ contactId: row.contact_id, fieldsJson: row.fields_text, line: Number(row.line_text) }));
  }

  /** The refused rows in file order, a page at a time, for their dead letters. */
  async refusedPage(jobId: string, afterLine: number, limit: number): Promise<RefusedRow[]> {
    const { rows } = await this.pool.query<{ line_text: string; contact_id: string | null; refused: string; content: Buffer }>(
      `SELECT line::text AS line_text, contact_id, refused, content FROM ${this.staging(jobId)}
        WHERE line > $1 AND refused IS NOT NULL ORDER BY line LIMIT $2`,
      [afterLine, limit],
    );
    return rows.map((row) => ({ line: Number(row.line_text), contactId: row.contact_id, reason: row.refused, content: row.content }));
  }

  /** Contacts the topic holds that this export does not name, a page at a time (keyset on the id, in byte order). */
  async missingFromExport(jobId: string, afterId: string, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ contact_id: string }>(
      `SELECT t.contact_id FROM caac_contact_topic t
        WHERE t.contact_id COLLATE "C" > $1 AND NOT EXISTS (SELECT 1 FROM ${this.staging(jobId)} s WHERE s.contact_id = t.contact_id)
        ORDER BY t.contact_id COLLATE "C" LIMIT $2`,
      [afterId, limit],
    );
    return rows.map((row) => row.contact_id);
  }

  /**
   * Records messages the broker acknowledged: a value means the topic holds the contact, a
   * tombstone that it no longer does. Called after every send, so a publish that fails part-way
   * leaves the set true, and the next export tombstones what it lacks.
   */
  async recordPublished(valueIds: string[], tombstoneIds: string[]): Promise<void> {
    if (valueIds.length > 0) {
      await this.pool.query(`INSERT INTO caac_contact_topic (contact_id) SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING`, [valueIds]);
    }
    if (tombstoneIds.length > 0) await this.pool.query(`DELETE FROM caac_contact_topic WHERE contact_id = ANY($1::text[])`, [tombstoneIds]);
  }
}
