import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A true count of pending contacts per key type, kept by statement-level triggers on
 * pending_change, so that every instance can report it on every scrape for the price of reading a
 * few rows, however large the backlog (invariant 9).
 *
 * TRICKY: one counter row per key type would serialise every ingest transaction on its row lock
 * until commit. The count is spread over slots instead (the writing backend's pid modulo
 * 16 slots), so concurrent writers almost never touch the same row; readers sum the
 * slots. Statement-level triggers with transition tables add one statement per write, not one
 * per row. An upsert that updates an existing contact inserts no row and counts nothing.
 */
export class PendingContactCount1795960000000 implements MigrationInterface {
  name = 'PendingContactCount1795960000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE pending_contact_count (
        key_type text   NOT NULL,
        slot     int    NOT NULL,
        contacts bigint NOT NULL,
        PRIMARY KEY (key_type, slot)
      )`);
    await db.query(`
      CREATE FUNCTION caac_sync_count_pending(key_types text[], deltas bigint[]) RETURNS void
      LANGUAGE sql AS $$
        INSERT INTO pending_contact_count AS c (key_type, slot, contacts)
        SELECT d.key_type, pg_backend_pid() % 16, d.delta FROM unnest(key_types, deltas) AS d(key_type, delta)
        ON CONFLICT (key_type, slot) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts
      $$`);
    await db.query(`
      CREATE FUNCTION caac_sync_pending_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM caac_sync_count_pending(array_agg(key_type), array_agg(n))
           FROM (SELECT key_type, count(*) AS n FROM inserted GROUP BY key_type) t HAVING count(*) > 0;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE FUNCTION caac_sync_pending_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM caac_sync_count_pending(array_agg(key_type), array_agg(-n))
           FROM (SELECT key_type, count(*) AS n FROM deleted GROUP BY key_type) t HAVING count(*) > 0;
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
    await db.query(`INSERT INTO pending_contact_count (key_type, slot, contacts) SELECT key_type, 0, count(*) FROM pending_change GROUP BY key_type`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER pending_change_counted_truncate ON pending_change`);
    await db.query(`DROP TRIGGER pending_change_counted_delete ON pending_change`);
    await db.query(`DROP TRIGGER pending_change_counted_insert ON pending_change`);
    await db.query(`DROP FUNCTION caac_sync_pending_truncated()`);
    await db.query(`DROP FUNCTION caac_sync_pending_deleted()`);
    await db.query(`DROP FUNCTION caac_sync_pending_inserted()`);
    await db.query(`DROP FUNCTION caac_sync_count_pending(text[], bigint[])`);
    await db.query(`DROP TABLE pending_contact_count`);
  }
}
