import type { DataSource } from 'typeorm';
import { PendingContactCount1795960000000 } from '../../src/migrations/1795960000000-pending-contact-count';
import type { KeyType } from '../../src/profile';
import { PipelineStatsRepository } from '../../src/ops/pipeline-stats.repository';
import { createDataSource, runMigrations } from '../../src/store/data-source';
import { PendingChangeQueue, PendingChangeRepository, type StagedChange } from '../../src/store/pending-change.repository';
import { freshDatabase, migrateToJustBefore } from '../support/database';

const aChange = (keyType: KeyType, keyValue: string, ts = 1): StagedChange => ({
  keyType,
  keyValue,
  fields: { display_name: { value: `${keyValue} at ${ts}`, ts, seq: 0 } },
});

describe('pending_contact_count (kept by triggers on pending_change)', () => {
  let db: DataSource;
  let drop: () => Promise<void>;
  const pending = new PendingChangeRepository();
  const queue = new PendingChangeQueue();

  /** What the counter says, and what counting the table says, per key type. */
  const counted = async () =>
    Object.fromEntries(
      ((await db.query(`SELECT key_type, sum(contacts)::int AS n FROM pending_contact_count GROUP BY key_type HAVING sum(contacts) <> 0 ORDER BY key_type`)) as Array<{ key_type: string; n: number }>).map(
        (row) => [row.key_type, row.n],
      ),
    );
  const actual = async () =>
    Object.fromEntries(
      ((await db.query(`SELECT key_type, count(*)::int AS n FROM pending_change GROUP BY key_type ORDER BY key_type`)) as Array<{ key_type: string; n: number }>).map((row) => [
        row.key_type,
        row.n,
      ]),
    );

  beforeAll(async () => {
    const database = await freshDatabase('pending_count');
    drop = database.drop;
    db = createDataSource({ url: database.url, poolMax: 6 });
    await db.initialize();
  });

  afterAll(async () => {
    await db.destroy();
    await drop();
  });

  it('counts the contacts already pending when the migration runs', async () => {
    await migrateToJustBefore(db, PendingContactCount1795960000000);
    // Raw rows in that schema: today's merge writes columns later migrations add.
    await db.query(
      `INSERT INTO pending_change (key_type, key_value, fields)
       VALUES ('customer_id', 'C-1', $1), ('customer_id', 'C-2', $1), ('line_uid', 'U-1', $1)`,
      [JSON.stringify({ display_name: { v: 'pending', ts: 1, seq: 0 } })],
    );

    await runMigrations(db);

    await expect(counted()).resolves.toEqual({ customer_id: 2, line_uid: 1 });
  });

  it('counts new contacts, not updates of pending ones, and uncounts claimed ones', async () => {
    await pending.merge(db.manager, [aChange('customer_id', 'C-1', 2), aChange('customer_id', 'C-3'), aChange('display_email', 'a@example.com')]);
    await expect(counted()).resolves.toEqual({ customer_id: 3, display_email: 1, line_uid: 1 });

    await db.transaction((tx) => queue.take(tx, 'customer_id', 2));

    await expect(counted()).resolves.toEqual({ customer_id: 1, display_email: 1, line_uid: 1 });
    await expect(counted()).resolves.toEqual(await actual());
  });

  it('stays exact under concurrent writers and claims over the same contacts', async () => {
    // Like ingest: each batch one transaction, several batches of overlapping contacts at once.
    const writers = Array.from({ length: 5 }, async (_, writer) => {
      for (let round = 0; round < 10; round++) {
        const changes = Array.from({ length: 40 }, (_, i) => aChange('customer_id', `W-${(writer * 13 + round * 7 + i) % 150}`, round + 2));
        await db.transaction((tx) => pending.merge(tx, changes));
      }
    });
    const claims = Array.from({ length: 3 }, async () => {
      for (let round = 0; round < 5; round++) await db.transaction((tx) => queue.take(tx, 'customer_id', 30));
    });
    await Promise.all([...writers, ...claims]);

    await expect(counted()).resolves.toEqual(await actual());
  });

  it('keeps the same count when its deltas are folded, and folds to one row per key type', async () => {
    const before = await counted();

    await expect(new PipelineStatsRepository(db).compactPendingCount()).resolves.toBe(true);

    await expect(counted()).resolves.toEqual(before);
    await expect(db.query(`SELECT count(*)::int AS n FROM pending_contact_count`)).resolves.toEqual([{ n: Object.keys(before).length }]);
  });

  it('is zero after the table is truncated', async () => {
    await db.query('TRUNCATE pending_change');

    await expect(counted()).resolves.toEqual({});
  });
});
