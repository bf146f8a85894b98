import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where a pending contact's newest change came from (topic, partition, offset), so the contact
 * story can answer "which message put this value here?". The stamp (ts, seq) of that change is
 * kept beside it, so a later merge replaces the source only with a newer one, as fields merge.
 * Nullable: put-backs from the importer and crm-wins requeues carry no source and keep the stored one.
 */
export class PendingChangeSource1795990000000 implements MigrationInterface {
  name = 'PendingChangeSource1795990000000';

  async up(db: QueryRunner): Promise<void> {
    // Nullable columns without defaults: adding them rewrites nothing, however large the backlog.
    await db.query(`
      ALTER TABLE pending_change
        ADD COLUMN source_topic text,
        ADD COLUMN source_partition integer,
        ADD COLUMN source_offset bigint,
        ADD COLUMN source_ts bigint`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE pending_change
        DROP COLUMN source_topic,
        DROP COLUMN source_partition,
        DROP COLUMN source_offset,
        DROP COLUMN source_ts`);
  }
}
