import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Statuses after which a batch needs no more work; every other status is open. */
const TERMINAL = `('done', 'failed', 'requeued')`;

/**
 * One open import batch per account, as a database guarantee, and the records that let every
 * change of a batch's state be checked against the state it expects (invariants 1, 6 and 7):
 *
 * - `import_batch_one_open`: at most one batch per account in any open status (claimed,
 *   submitting, submitted, retrying). The first index covered only submitting/submitted, so two
 *   claimed batches could exist after a crash, and a leader could advance the older one while a
 *   newer one was in flight.
 * - `importer_epoch`: the leadership epoch per account, raised by each new leader. Every state
 *   change of a batch names the epoch it was decided under, so a deposed leader's late write
 *   changes nothing (see ImportBatchRepository).
 * - `task_failures` / `transport_failures`: a failed task (CAAC ran the import and said it
 *   failed) spends the batch's budget; a request that never became a task (429, 5xx, busy, an
 *   unknown outcome, an open breaker) is counted apart and never dead-letters anything.
 * - `row_failures` on pending changes and batch items: how often a contact's row failed without
 *   naming a field, so such a row is dead-lettered after a cap instead of being sent forever.
 * - status `requeued`: a batch whose contacts went back into pending_change.
 *
 * Existing data: where an account has several open batches (possible before this index), the one
 * in flight (submitted or submitting, else the newest) stays; the others' contacts are merged back
 * under whatever is pending for them, newest value per field winning, and they become `requeued`.
 */
export class OneOpenBatchFenced1795930000000 implements MigrationInterface {
  name = 'OneOpenBatchFenced1795930000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE import_batch DROP CONSTRAINT import_batch_status`);
    await db.query(`
      ALTER TABLE import_batch ADD CONSTRAINT import_batch_status
        CHECK (status IN ('claimed', 'submitting', 'submitted', 'retrying', 'done', 'failed', 'requeued'))`);
    await db.query(`ALTER TABLE import_batch ADD COLUMN task_failures integer NOT NULL DEFAULT 0`);
    await db.query(`ALTER TABLE import_batch ADD COLUMN transport_failures integer NOT NULL DEFAULT 0`);
    await db.query(`ALTER TABLE import_batch_item ADD COLUMN row_failures integer NOT NULL DEFAULT 0`);
    await db.query(`ALTER TABLE pending_change ADD COLUMN row_failures integer NOT NULL DEFAULT 0`);

    // Fold every open batch but one per account back into pending.
    await db.query(`
      CREATE TEMPORARY TABLE folded ON COMMIT DROP AS
      SELECT id FROM (
        SELECT id, row_number() OVER (
                 PARTITION BY account
                 ORDER BY (status IN ('submitted', 'submitting')) DESC, id DESC) AS rank
          FROM import_batch WHERE status NOT IN ${TERMINAL}) ranked
       WHERE rank > 1`);
    await db.query(`
      INSERT INTO pending_change AS p (key_type, key_value, fields, first_staged_at)
      SELECT b.key_type, i.key_value, i.fields, b.created_at
        FROM import_batch_item i JOIN import_batch b ON b.id = i.batch_id
       WHERE b.id IN (SELECT id FROM folded)
       ORDER BY b.key_type, i.key_value, b.id
      ON CONFLICT (key_type, key_value) DO UPDATE
        SET fields = caac_sync_merge_fields(p.fields, EXCLUDED.fields),
            first_staged_at = least(p.first_staged_at, EXCLUDED.first_staged_at),
            updated_at = now()`);
    await db.query(`DELETE FROM import_batch_item WHERE batch_id IN (SELECT id FROM folded)`);
    await db.query(`
      UPDATE import_batch SET status = 'requeued', finished_at = now(), next_attempt_at = NULL,
             last_error = 'another batch of the account was open; contacts returned to pending'
       WHERE id IN (SELECT id FROM folded)`);

    await db.query(`DROP INDEX import_batch_one_in_flight`);
    // Invariant 6 in the schema: one open batch per account, whatever its status.
    await db.query(`CREATE UNIQUE INDEX import_batch_one_open ON import_batch (account) WHERE status NOT IN ${TERMINAL}`);

    await db.query(`
      CREATE TABLE importer_epoch (
        account    text        PRIMARY KEY,
        epoch      bigint      NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE importer_epoch`);
    await db.query(`DROP INDEX import_batch_one_open`);
    await db.query(`CREATE UNIQUE INDEX import_batch_one_in_flight ON import_batch (account) WHERE status IN ('submitting', 'submitted')`);
    await db.query(`ALTER TABLE pending_change DROP COLUMN row_failures`);
    await db.query(`ALTER TABLE import_batch_item DROP COLUMN row_failures`);
    await db.query(`ALTER TABLE import_batch DROP COLUMN transport_failures`);
    await db.query(`ALTER TABLE import_batch DROP COLUMN task_failures`);
    // A requeued batch has no contacts left: as far as the older schema can say, it is done.
    await db.query(`UPDATE import_batch SET status = 'done' WHERE status = 'requeued'`);
    await db.query(`ALTER TABLE import_batch DROP CONSTRAINT import_batch_status`);
    await db.query(`
      ALTER TABLE import_batch ADD CONSTRAINT import_batch_status
        CHECK (status IN ('claimed', 'submitting', 'submitted', 'retrying', 'done', 'failed'))`);
  }
}
