import type { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../src/migrations';
import { OneOpenBatchFenced1795930000000 } from '../../src/migrations/1795930000000-one-open-batch-fenced';
import { createDataSource, MIGRATIONS_TABLE, runMigrations } from '../../src/store/data-source';
import { freshDatabase, migrateToJustBefore } from '../support/database';

const TABLES = [
  'consumer_offset',
  'contact_drift',
  'contact_identity',
  'contact_identity_untied',
  'contact_state',
  'dead_letter_outbox',
  'export_job',
  'import_batch',
  'import_batch_item',
  'import_request_log',
  'importer_epoch',
  'pending_change',
  'pending_contact_count',
];

async function tablesOf(db: DataSource): Promise<string[]> {
  const rows: Array<{ table_name: string }> = await db.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> $1 ORDER BY table_name`,
    [MIGRATIONS_TABLE],
  );
  return rows.map((row) => row.table_name);
}

describe('migrations', () => {
  let sut: DataSource;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await freshDatabase('migrations');
    drop = database.drop;
    sut = createDataSource({ url: database.url, poolMax: 2 });
    await sut.initialize();
  });

  afterAll(async () => {
    await sut.destroy();
    await drop();
  });

  it('go all up on an empty database, all down, then all up again', async () => {
    await expect(runMigrations(sut)).resolves.toEqual(MIGRATIONS.map((migration) => new migration().name));
    await expect(tablesOf(sut)).resolves.toEqual(TABLES);

    for (let i = 0; i < MIGRATIONS.length; i++) await sut.undoLastMigration({ transaction: 'each' });
    await expect(tablesOf(sut)).resolves.toEqual([]);
    await expect(sut.query(`SELECT count(*)::int AS n FROM ${MIGRATIONS_TABLE}`)).resolves.toEqual([{ n: 0 }]);

    await expect(runMigrations(sut)).resolves.toHaveLength(MIGRATIONS.length);
    await expect(tablesOf(sut)).resolves.toEqual(TABLES);
    await expect(runMigrations(sut)).resolves.toEqual([]);
  });

  it('merge stamped fields in SQL with newest-wins per field', async () => {
    const [{ merged }] = await sut.query(`SELECT caac_sync_merge_fields($1::jsonb, $2::jsonb) AS merged`, [
      JSON.stringify({ a: { v: 'old', ts: 1, seq: 9 }, b: { v: 'keep', ts: 5, seq: 0 }, c: { v: 'x', ts: 3, seq: 1 } }),
      JSON.stringify({ a: { v: 'new', ts: 2, seq: 0 }, b: { v: 'older', ts: 4, seq: 7 }, d: { v: null, ts: 1, seq: 0 } }),
    ]);

    expect(merged).toEqual({
      a: { v: 'new', ts: 2, seq: 0 },
      b: { v: 'keep', ts: 5, seq: 0 },
      c: { v: 'x', ts: 3, seq: 1 },
      d: { v: null, ts: 1, seq: 0 },
    });
  });

  it('refuse a second open import batch of one account, whatever the statuses', async () => {
    const insert = `INSERT INTO import_batch (account, key_type, status, rows) VALUES ($1, 'customer_id', $2, 1)`;
    const open = ['claimed', 'submitting', 'submitted', 'retrying'];
    for (const first of open) {
      await sut.query(`DELETE FROM import_batch`);
      await sut.query(insert, ['acme', first]);
      for (const second of open) {
        await expect(sut.query(insert, ['acme', second]).then(() => 'inserted', (error: Error) => error.message)).resolves.toBe(
          'duplicate key value violates unique constraint "import_batch_one_open"',
        );
      }
      // Ended batches and other accounts' batches are not in the way.
      await expect(sut.query(insert, ['acme', 'done'])).resolves.toBeDefined();
      await expect(sut.query(insert, ['acme', 'failed'])).resolves.toBeDefined();
      await expect(sut.query(insert, ['acme', 'requeued'])).resolves.toBeDefined();
      await expect(sut.query(insert, ['other', 'claimed'])).resolves.toBeDefined();
    }
    await sut.query(`DELETE FROM import_batch`);
  });
});

describe(OneOpenBatchFenced1795930000000.name, () => {
  let sut: DataSource;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await freshDatabase('migrations_fold');
    drop = database.drop;
    sut = createDataSource({ url: database.url, poolMax: 2 });
    await sut.initialize();
  });

  afterAll(async () => {
    await sut.destroy();
    await drop();
  });

  it('keeps the batch in flight and folds the other open batches of the account back into pending', async () => {
    // A database from before the migration, where a crash left an older claimed batch beside the
    // one in flight, and an account with two claimed batches.
    const reapplied = await migrateToJustBefore(sut, OneOpenBatchFenced1795930000000);
    const batch = async (account: string, status: string): Promise<string> => {
      const [{ id }] = await sut.query(
        `INSERT INTO import_batch (account, key_type, status, rows, task_id, created_at)
         VALUES ($1, 'customer_id', $2, 1, CASE WHEN $2 = 'submitted' THEN 'task-' || $1 END, '2026-11-28T10:00:00Z') RETURNING id::text AS id`,
        [account, status],
      );
      return id as string;
    };
    const olderClaimed = await batch('acme', 'claimed');
    const submitted = await batch('acme', 'submitted');
    const firstClaimed = await batch('beta', 'claimed');
    const secondClaimed = await batch('beta', 'claimed');
    const item = `INSERT INTO import_batch_item (batch_id, key_value, fields) VALUES ($1, $2, $3)`;
    await sut.query(item, [olderClaimed, 'C-1', JSON.stringify({ city: { v: 'Old', ts: 5, seq: 0 }, region: { v: 'tw', ts: 5, seq: 0 } })]);
    await sut.query(item, [submitted, 'C-2', JSON.stringify({ city: { v: 'Sent', ts: 6, seq: 0 } })]);
    await sut.query(item, [firstClaimed, 'C-3', JSON.stringify({ city: { v: 'Three', ts: 1, seq: 0 } })]);
    await sut.query(item, [secondClaimed, 'C-4', JSON.stringify({ city: { v: 'Four', ts: 1, seq: 0 } })]);
    // A newer change of C-1's city is already pending: it must stay over the folded older one.
    await sut.query(`INSERT INTO pending_change (key_type, key_value, fields, first_staged_at) VALUES ('customer_id', 'C-1', $1, '2026-11-28T11:00:00Z')`, [
      JSON.stringify({ city: { v: 'New', ts: 9, seq: 0 } }),
    ]);

    await expect(runMigrations(sut)).resolves.toEqual(reapplied);

    await expect(sut.query(`SELECT id::text AS id, status FROM import_batch ORDER BY id`)).resolves.toEqual([
      { id: olderClaimed, status: 'requeued' },
      { id: submitted, status: 'submitted' },
      { id: firstClaimed, status: 'requeued' },
      { id: secondClaimed, status: 'claimed' },
    ]);
    await expect(sut.query(`SELECT batch_id::text AS id, key_value FROM import_batch_item ORDER BY batch_id`)).resolves.toEqual([
      { id: submitted, key_value: 'C-2' },
      { id: secondClaimed, key_value: 'C-4' },
    ]);
    await expect(sut.query(`SELECT key_value, fields, first_staged_at, row_failures FROM pending_change ORDER BY key_value`)).resolves.toEqual([
      {
        key_value: 'C-1',
        fields: { city: { v: 'New', ts: 9, seq: 0 }, region: { v: 'tw', ts: 5, seq: 0 } },
        first_staged_at: new Date('2026-11-28T10:00:00Z'),
        row_failures: 0,
      },
      { key_value: 'C-3', fields: { city: { v: 'Three', ts: 1, seq: 0 } }, first_staged_at: new Date('2026-11-28T10:00:00Z'), row_failures: 0 },
    ]);
  });
});
