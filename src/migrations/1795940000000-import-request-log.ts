import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every import request an importer sends, written before it is sent, stamped with the database's
 * clock: the next leader of the account after a fail-over reads the last window from it, so the
 * two leaders together stay within the API's 15 requests per rolling minute (invariant 6).
 */
export class ImportRequestLog1795940000000 implements MigrationInterface {
  name = 'ImportRequestLog1795940000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE import_request_log (
        id bigserial PRIMARY KEY,
        account text NOT NULL,
        sent_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX import_request_log_account_sent_at ON import_request_log (account, sent_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE import_request_log`);
  }
}
