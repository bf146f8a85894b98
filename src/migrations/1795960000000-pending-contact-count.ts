import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A true count of pending contacts per key type, kept by statement-level triggers on
 * pending_change, so that every instance can report it on every scrape for the price of summing
 * a few rows, however large the backlog (invariant 9).
 *
 * TRICKY: the triggers only ever INSERT a delta row (+n for contacts inserted, -n for contacts
 * deleted). Updating a counter row instead would hold its lock until commit, and two writers
 * merging overlapping contacts in several statements could then deadlock on it and the contacts'
 * rows. Deltas take no lock anyone waits for; a compaction (PendingCountCompactor) folds them into
 * one row per key type now and then, and readers sum whatever is there. Statement-level triggers
 * with transition tables cost one statement per write, not one per row. An upsert that updates a
 * pending contact inserts no row and counts nothing.
 */
export class PendingContactCount1795960000000 implements MigrationInterface {
  name = 'PendingContactCount1795960000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE TABLE pending_contact_count (key_type text NOT NULL, contacts bigint NOT NULL)`);
    await db.query(`
      CREATE FUNCTION caac_sync_pending_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO pending_contact_count (key_type, contacts) SELECT key_type, count(*) FROM inserted GROUP BY key_type;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE FUNCTION caac_sync_pending_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO pending_contact_count (key_type, contacts) SELECT key_type, -count(*) FROM deleted GROUP BY key_type;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE FUNCTION caac_sync_pending_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM pending_contact_count;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER pending_change_counted_insert AFTER INSERT ON pending_change
      REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION caac_sync_pending_inserted()`);
    await db.query(`
      CREATE TRIGGER pending_change_counted_delete AFTER DELETE ON pending_change
      REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION caac_sync_pending_deleted()`);
    await db.query(`
      CREATE TRIGGER pending_change_counted_truncate AFTER TRUNCATE ON pending_change
      FOR EACH STATEMENT EXECUTE FUNCTION caac_sync_pending_truncated()`);
    // The contacts already waiting, counted once, under a lock so that no write slips between.
    await db.query(`LOCK TABLE pending_change IN SHARE MODE`);
    await db.query(`INSERT INTO pending_contact_count (key_type, contacts) SELECT key_type, count(*) FROM pending_change GROUP BY key_type`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER pending_change_counted_truncate ON pending_change`);
    await db.query(`DROP TRIGGER pending_change_counted_delete ON pending_change`);
    await db.query(`DROP TRIGGER pending_change_counted_insert ON pending_change`);
    await db.query(`DROP FUNCTION caac_sync_pending_truncated()`);
    await db.query(`DROP FUNCTION caac_sync_pending_deleted()`);
    await db.query(`DROP FUNCTION caac_sync_pending_inserted()`);
    await db.query(`DROP TABLE pending_contact_count`);
  }
}
