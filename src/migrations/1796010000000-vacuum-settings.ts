import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Autovacuum thresholds for the tables the service churns, so dead rows are reclaimed while they
 * are few. Postgres's default waits for dead rows worth a fifth of a table's live rows:
 * - pending_change and import_batch_item are queues: every contact is inserted, claimed and
 *   deleted, and a drained queue has few live rows, so the default fires late in a burst and every
 *   claim walks past the dead entries of the oldest-first index meanwhile;
 * - pending_contact_count takes a delta row per write and is folded often;
 * - contact_state is the largest table and every import updates a row of it per contact: at
 *   10,000,000 contacts the default lets 2,000,000 dead versions pile up (a fifth more table) first.
 *
 * Storage parameters take no lock that readers or writers wait on. Where autovacuum is off for the
 * whole server these change nothing; the service warns about that at start (autovacuum-check.ts).
 */
const SETTINGS: Record<string, string> = {
  pending_change: 'autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 5000',
  import_batch_item: 'autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000',
  pending_contact_count: 'autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000',
  contact_state: 'autovacuum_vacuum_scale_factor = 0.05',
};

export class VacuumSettings1796010000000 implements MigrationInterface {
  name = 'VacuumSettings1796010000000';

  async up(db: QueryRunner): Promise<void> {
    for (const [table, settings] of Object.entries(SETTINGS)) await db.query(`ALTER TABLE ${table} SET (${settings})`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of Object.keys(SETTINGS)) {
      await db.query(`ALTER TABLE ${table} RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)`);
    }
  }
}
