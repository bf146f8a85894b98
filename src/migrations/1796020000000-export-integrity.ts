import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Exports that can be refused or held (DESIGN §4.2): a file that is not whole fails its job, an
 * export that would delete too much of the mirror waits as `held` for an operator, a held export a
 * newer request replaces ends as `superseded`. The job records the file's header (reconcile reads
 * the columns the file has), the rows refused that kept their contact's previous row, the
 * deletions it would make, when deletions were allowed, and when it first delivered everything (a
 * failed redelivery returns it to `done`, never to `failed`).
 *
 * The signed download link is no longer stored: it reaches every contact for a week, so it is
 * asked of CAAC (by task id) each time the file is downloaded.
 */
export class ExportIntegrity1796020000000 implements MigrationInterface {
  name = 'ExportIntegrity1796020000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE export_job DROP CONSTRAINT export_job_status`);
    await db.query(`
      ALTER TABLE export_job
        ADD CONSTRAINT export_job_status
          CHECK (status IN ('requested', 'running', 'downloading', 'held', 'done', 'failed', 'expired', 'superseded')),
        ADD COLUMN columns              jsonb,
        ADD COLUMN kept_on_refusal      integer,
        ADD COLUMN deletions            integer,
        ADD COLUMN held_reason          text,
        ADD COLUMN deletions_allowed_at timestamptz,
        ADD COLUMN delivered_at         timestamptz,
        DROP COLUMN download_url`);
    await db.query(`UPDATE export_job SET delivered_at = finished_at WHERE status = 'done'`);
    // At most one held export an account: a newer request supersedes it.
    await db.query(`CREATE UNIQUE INDEX export_job_one_held ON export_job (account) WHERE status = 'held'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX export_job_one_held`);
    await db.query(`UPDATE export_job SET status = 'failed', last_error = coalesce(last_error, 'held when the schema was rolled back') WHERE status IN ('held', 'superseded')`);
    await db.query(`ALTER TABLE export_job DROP CONSTRAINT export_job_status`);
    await db.query(`
      ALTER TABLE export_job
        ADD CONSTRAINT export_job_status CHECK (status IN ('requested', 'running', 'downloading', 'done', 'failed', 'expired')),
        ADD COLUMN download_url text,
        DROP COLUMN columns, DROP COLUMN kept_on_refusal, DROP COLUMN deletions, DROP COLUMN held_reason,
        DROP COLUMN deletions_allowed_at, DROP COLUMN delivered_at`);
  }
}
