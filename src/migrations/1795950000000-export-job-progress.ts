import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What an export job needs to resume after a crash and to report: when its task was accepted,
 * the file's bytes and SHA-256, and each step done (file staged, table merged, topic published),
 * so a restart repeats only what had not finished.
 */
export class ExportJobProgress1795950000000 implements MigrationInterface {
  name = 'ExportJobProgress1795950000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE export_job
        ADD COLUMN started_at     timestamptz,
        ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN byte_count     bigint,
        ADD COLUMN sha256         text,
        ADD COLUMN malformed_rows integer NOT NULL DEFAULT 0,
        ADD COLUMN loaded_at      timestamptz,
        ADD COLUMN table_rows     integer,
        ADD COLUMN table_done_at  timestamptz,
        ADD COLUMN topic_rows     integer,
        ADD COLUMN topic_tombstones integer,
        ADD COLUMN topic_done_at  timestamptz,
        ADD COLUMN attempts       integer NOT NULL DEFAULT 0`);
    await db.query(`CREATE INDEX export_job_account_id ON export_job (account, id DESC)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX export_job_account_id`);
    await db.query(`
      ALTER TABLE export_job
        DROP COLUMN started_at, DROP COLUMN updated_at, DROP COLUMN byte_count, DROP COLUMN sha256,
        DROP COLUMN malformed_rows, DROP COLUMN loaded_at, DROP COLUMN table_rows, DROP COLUMN table_done_at,
        DROP COLUMN topic_rows, DROP COLUMN topic_tombstones, DROP COLUMN topic_done_at, DROP COLUMN attempts`);
  }
}
