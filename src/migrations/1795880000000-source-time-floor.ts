import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per partition, the latest source time of a Debezium snapshot read seen so far. A streamed change
 * that follows snapshot reads in the partition is stamped after it, because a snapshot row's time is
 * when it was read, and a change committed while the snapshot ran can carry an earlier time
 * (invariant 2: the newer change must win).
 */
export class SourceTimeFloor1795880000000 implements MigrationInterface {
  name = 'SourceTimeFloor1795880000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE consumer_offset ADD COLUMN source_ts_floor bigint NOT NULL DEFAULT 0`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE consumer_offset DROP COLUMN source_ts_floor`);
  }
}
