import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A row id for contact_drift, so a page cursor of the drift route names a row by its id rather than
 * by its key: a cursor travels in URLs and access logs, where an e-mail address must not.
 */
export class DriftRowId1796040000000 implements MigrationInterface {
  name = 'DriftRowId1796040000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE contact_drift ADD COLUMN id bigserial`);
    await db.query(`CREATE UNIQUE INDEX contact_drift_id ON contact_drift (id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE contact_drift DROP COLUMN id`);
  }
}
