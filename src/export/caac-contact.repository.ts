import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Writable } from 'node:stream';

/** A staged contact as read back for the topic: its id, its fields as JSON text, its line in the file. */
export interface StagedContact {
  contactId: string;
  fieldsJson: string;
  line: number;
}

/** The file's rows did not all reach the staging table: merging it would delete contacts wrongly. */
export class IncompleteStagingError extends Error {
  readonly code = 'staging_incomplete';
  constructor(expected: number, found: number) {
    super(`the staged export holds ${found} rows, not the ${expected} loaded; the file is loaded again`);
    this.name = 'IncompleteStagingError';
  }
}

function stagingTable(jobId: string): string {
  if (!/^\d{1,18}$/.test(jobId)) throw new Error(`not an export job id: ${jobId}`);
  return `caac_contact_load_${jobId}`;
}

/**
 * The export database (EXPORT_DATABASE_URL, the service's own by default): the `caac_contact`
 * table, one staging table per running export, and the ids the export topic holds.
 * TRICKY: this database may not be the service's, so its tables are created here, idempotently,
 * rather than by the service's migrations.
 */
export class CaacContactRepository {
  constructor(private readonly pool: Pool) {}

  async ensureSchema(): Promise<void> {
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS caac_contact (
        contact_id  text        PRIMARY KEY,
        fields      jsonb       NOT NULL,
        export_id   bigint      NOT NULL,
        exported_at timestamptz NOT NULL
      )`);
    // The contacts the export topic holds a value for: the previous complete export's, for tombstones.
    await this.pool.query(`CREATE TABLE IF NOT EXISTS caac_contact_topic (contact_id text PRIMARY KEY)`);
  }

  /** A connection with an empty staging table for the job and a COPY stream into it. */
  async openStaging(jobId: string): Promise<{ client: PoolClient; copy: Writable }> {
    const table = stagingTable(jobId);
    const client = await this.pool.connect();
    try {
      await client.query(`DROP TABLE IF EXISTS ${table}`);
      await client.query(`CREATE TABLE ${table} (contact_id text NOT NULL, fields jsonb NOT NULL, line bigint NOT NULL)`);
      return { client, copy: client.query(copyFrom(`COPY ${table} (contact_id, fields, line) FROM STDIN`)) };
    } catch (error) {
      client.release(true);
      throw error;
    }
  }

  /** Indexes a fully loaded staging table for the merge and for paging, and returns its row count. */
  async sealStaging(client: PoolClient, jobId: string): Promise<number> {
    const table = stagingTable(jobId);
    await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (line)`);
    await client.query(`CREATE INDEX ON ${table} (contact_id)`);
    await client.query(`ANALYZE ${table}`);
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    return rows[0]!.n;
  }

  async dropStaging(jobId: string): Promise<void> {
    await this.pool.query(`DROP TABLE IF EXISTS ${stagingTable(jobId)}`);
  }

  /**
   * Makes the table equal to the staged export in one transaction, so readers see the previous
   * export or this one, never a mix: every staged contact upserted, every other contact deleted
   * (an export is a full snapshot). Refuses a staging table that lacks rows that were loaded.
   */
  async mergeIntoTable(jobId: string, expectedRows: number, exportId: string, exportedAt: Date): Promise<{ rows: number; deleted: number }> {
    const table = stagingTable(jobId);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows: counted } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      if (counted[0]!.n !== expectedRows) throw new IncompleteStagingError(expectedRows, counted[0]!.n);
      // A contact listed twice keeps its last line, as a reader of the file would.
      const upserted = await client.query(
        `INSERT INTO caac_contact (contact_id, fields, export_id, exported_at)
         SELECT DISTINCT ON (contact_id) contact_id, fields, $1::bigint, $2 FROM ${table} ORDER BY contact_id, line DESC
         ON CONFLICT (contact_id) DO UPDATE SET fields = EXCLUDED.fields, export_id = EXCLUDED.export_id, exported_at = EXCLUDED.exported_at`,
        [exportId, exportedAt],
      );
      const deleted = await client.query(`DELETE FROM caac_contact c WHERE NOT EXISTS (SELECT 1 FROM ${table} s WHERE s.contact_id = c.contact_id)`);
      await client.query('COMMIT');
      return { rows: upserted.rowCount ?? 0, deleted: deleted.rowCount ?? 0 };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async stagedCount(jobId: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ n: number | null }>(`SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE 0 END AS n`, [stagingTable(jobId)]);
    if (rows[0]!.n === null) return undefined;
    const counted = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${stagingTable(jobId)}`);
    return counted.rows[0]!.n;
  }

  /** The staged contacts in file order, a page at a time (keyset on the line number). */
  async stagedPage(jobId: string, afterLine: number, limit: number): Promise<StagedContact[]> {
    // TRICKY: the text copies get names of their own; `ORDER BY line` would otherwise sort the text.
    const { rows } = await this.pool.query<{ contact_id: string; fields_text: string; line_text: string }>(
      `SELECT contact_id, fields::text AS fields_text, line::text AS line_text FROM ${stagingTable(jobId)} WHERE line > $1 ORDER BY line LIMIT $2`,
      [afterLine, limit],
    );
    return rows.map((row) => ({ contactId: row.contact_id, fieldsJson: row.fields_text, line: Number(row.line_text) }));
  }

  /** Contacts the topic holds that this export lacks, a page at a time (keyset on the id). */
  async missingFromExport(jobId: string, afterId: string, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ contact_id: string }>(
      `SELECT t.contact_id FROM caac_contact_topic t
        WHERE t.contact_id COLLATE "C" > $1 AND NOT EXISTS (SELECT 1 FROM ${stagingTable(jobId)} s WHERE s.contact_id = t.contact_id)
        ORDER BY t.contact_id COLLATE "C" LIMIT $2`,
      [afterId, limit],
    );
    return rows.map((row) => row.contact_id);
  }

  /** After the topic has every value and tombstone of this export: it holds exactly these contacts. */
  async recordTopicContacts(jobId: string): Promise<void> {
    const table = stagingTable(jobId);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`DELETE FROM caac_contact_topic t WHERE NOT EXISTS (SELECT 1 FROM ${table} s WHERE s.contact_id = t.contact_id)`);
      await client.query(`INSERT INTO caac_contact_topic (contact_id) SELECT DISTINCT contact_id FROM ${table} ON CONFLICT DO NOTHING`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
