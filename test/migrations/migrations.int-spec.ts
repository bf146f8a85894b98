import type { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../src/migrations';
import { createDataSource, MIGRATIONS_TABLE, runMigrations } from '../../src/store/data-source';
import { freshDatabase } from '../support/database';

const TABLES = [
  'consumer_offset',
  'contact_state',
  'dead_letter_outbox',
  'export_job',
  'import_batch',
  'import_batch_item',
  'import_request_log',
  'pending_change',
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

  it('refuse a second import in flight for one account', async () => {
    const insert = `INSERT INTO import_batch (account, key_type, status, rows) VALUES ('acme', 'customer_id', $1, 1)`;
    await sut.query(insert, ['submitted']);

    await expect(sut.query(insert, ['submitting'])).rejects.toThrow(/import_batch_one_in_flight/);
    await expect(sut.query(insert, ['claimed'])).resolves.toBeDefined();
  });
});
