import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Published dead letters by age, so pruning them (DEAD_LETTER_RETENTION_MS) reads only what it deletes. */
export class DeadLetterPublishedIndex1796040000001 implements MigrationInterface {
  name = 'DeadLetterPublishedIndex1796040000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX dead_letter_outbox_published ON dead_letter_outbox (published_at) WHERE published_at IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX dead_letter_outbox_published`);
  }
}
