import type { DataSource } from 'typeorm';
import type { CaacClient } from '../../src/caac/caac.client';
import { systemClock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import { ImportScheduler } from '../../src/importer/import-scheduler.service';
import { ShortFieldHashes1796000000000 } from '../../src/migrations/1796000000000-short-field-hashes';
import { Metrics } from '../../src/telemetry/metrics';
import { fieldHash, type FieldValue } from '../../src/profile';
import { createDataSource, runMigrations } from '../../src/store/data-source';
import { freshDatabase, migrateToJustBefore } from '../support/database';
import { testConfig } from '../support/service';
import { asEntryObjects } from '../support/contact-state-entries';

// Values of every type, numbers in the forms Postgres and JavaScript write differently, and
// characters outside the BMP.
const VALUES: Array<FieldValue | null> = ['Amy', '', '台北', '\u{1F600}', 'a"b\\c', 1, 0, -2.5, 1e-7, 1e21, 0.1, 2 ** 53 + 2, true, false, null];
const UPDATED_AT = new Date('2026-11-01T00:00:00.000Z');

describe(ShortFieldHashes1796000000000.name, () => {
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  let reapplied: string[];
  /** Per value, its hash as contact_state stored it before the migration (the 43-character SQL function). */
  const before = new Map<FieldValue | null, string>();
  let learnedBefore: string;

  async function sqlHash(value: FieldValue | null): Promise<string> {
    const [{ h }] = await dataSource.query(`SELECT caac_sync_field_hash($1::jsonb) AS h`, [JSON.stringify(value)]);
    return h;
  }

  async function stored(keyValue: string): Promise<Record<string, Record<string, unknown>>> {
    const [row] = await dataSource.query(`SELECT fields FROM contact_state WHERE key_type = 'customer_id' AND key_value = $1`, [keyValue]);
    // (Read as objects whatever the layout later migrations packed them into.)
    return asEntryObjects(row.fields) as unknown as Record<string, Record<string, unknown>>;
  }

  beforeAll(async () => {
    const database = await freshDatabase('short_field_hashes');
    drop = database.drop;
    dataSource = createDataSource({ url: database.url, poolMax: 2 });
    await dataSource.initialize();
    reapplied = await migrateToJustBefore(dataSource, ShortFieldHashes1796000000000);

    for (const value of VALUES) before.set(value, await sqlHash(value));
    [{ h: learnedBefore }] = await dataSource.query(`SELECT (caac_sync_export_cell_hashes('display_name', 'Edited'))[1] AS h`);
    // C-1: every value imported, as the importer recorded it. C-2: a drifted field (CAAC's value
    // learned, the sent one's hash in the drift mark). C-3: an entry recorded before "at", "v", "b".
    const imported = Object.fromEntries(VALUES.map((value, i) => [`cl_custom_f${i}`, { h: before.get(value), ts: 1_000, seq: 3, at: 5, v: value, b: '7' }]));
    const drifted = { display_name: { h: learnedBefore, ts: 1_000, seq: -1, l: true, dx: 9, dh: before.get('Amy'), dseq: 3, dat: 5, dv: 'Amy' } };
    const legacy = { city: { h: before.get('台北'), ts: 1_000, seq: 3 } };
    const insert = `INSERT INTO contact_state (key_type, key_value, fields, updated_at) VALUES ('customer_id', $1, $2, $3)`;
    await dataSource.query(insert, ['C-1', imported, UPDATED_AT]);
    await dataSource.query(insert, ['C-2', drifted, UPDATED_AT]);
    await dataSource.query(insert, ['C-3', legacy, UPDATED_AT]);

    await expect(runMigrations(dataSource)).resolves.toEqual(reapplied);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await drop?.();
  });

  it('makes the SQL hash functions compute exactly fieldHash, the first 16 characters of the old hash', async () => {
    for (const value of VALUES) {
      const hash = await sqlHash(value);
      expect([value, before.get(value)]).toEqual([value, expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)]);
      expect([value, hash]).toEqual([value, fieldHash(value)]);
      expect([value, hash]).toEqual([value, before.get(value)!.slice(0, 16)]);
    }
    await expect(dataSource.query(`SELECT caac_sync_export_cell_hashes('display_name', 'Edited') AS hashes`)).resolves.toEqual([{ hashes: [fieldHash('Edited')] }]);
  });

  it('cuts every stored hash and drift mark in place, leaving the rest of each entry and the rows’ times', async () => {
    const c1 = await stored('C-1');
    expect(Object.values(c1).map((entry) => entry.v)).toEqual(VALUES);
    for (const entry of Object.values(c1)) expect(entry).toEqual({ h: fieldHash(entry.v as FieldValue | null), ts: 1_000, seq: 3, at: 5, v: entry.v, b: '7' });
    await expect(stored('C-2')).resolves.toEqual({
      display_name: { h: fieldHash('Edited'), ts: 1_000, seq: -1, l: true, dx: 9, dh: fieldHash('Amy'), dseq: 3, dat: 5, dv: 'Amy' },
    });
    await expect(stored('C-3')).resolves.toEqual({ city: { h: fieldHash('台北'), ts: 1_000, seq: 3 } });
    await expect(dataSource.query(`SELECT DISTINCT updated_at FROM contact_state`)).resolves.toEqual([{ updated_at: UPDATED_AT }]);
  });

  it('sends nothing again: a claim of the values CAAC already holds drops every field as unchanged', async () => {
    const staged = (fields: Record<string, FieldValue | null>) => JSON.stringify(Object.fromEntries(Object.entries(fields).map(([field, v]) => [field, { v, ts: 2_000, seq: 0 }])));
    const stage = `INSERT INTO pending_change (key_type, key_value, fields) VALUES ('customer_id', $1, $2)`;
    await dataSource.query(stage, ['C-1', staged(Object.fromEntries(VALUES.map((value, i) => [`cl_custom_f${i}`, value])))]);
    await dataSource.query(stage, ['C-2', staged({ display_name: 'Edited' })]);
    await dataSource.query(stage, ['C-3', staged({ city: '台北' })]);
    const metrics = new Metrics();
    const config = testConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', SOURCE_TOPICS: 'unused:profile-change.v1' });
    const sut = new ImportScheduler(config, createLogger({ level: 'silent' }), systemClock, dataSource, {} as CaacClient, metrics);
    await sut.takeOver();

    await expect(sut.claim('customer_id')).resolves.toBeUndefined();

    await expect(metrics.importFieldsDropped.get()).resolves.toMatchObject({
      values: expect.arrayContaining([{ labels: { reason: 'unchanged' }, value: VALUES.length + 2 }]),
    });
    await expect(dataSource.query(`SELECT count(*)::int AS n FROM pending_change`)).resolves.toEqual([{ n: 0 }]);
    await expect(dataSource.query(`SELECT count(*)::int AS n FROM import_batch`)).resolves.toEqual([{ n: 0 }]);
    // What CAAC holds is confirmed at the newer stamp, under the same hash.
    await expect(stored('C-3')).resolves.toMatchObject({ city: { h: fieldHash('台北'), ts: 2_000, seq: 0 } });
  });

  it('goes down to the 43-character functions, and up again', async () => {
    const undone = await migrateToJustBefore(dataSource, ShortFieldHashes1796000000000);
    await expect(sqlHash('Amy')).resolves.toBe(before.get('Amy'));
    await expect(dataSource.query(`SELECT (caac_sync_export_cell_hashes('display_name', 'Edited'))[1] AS h`)).resolves.toEqual([{ h: learnedBefore }]);

    await expect(runMigrations(dataSource)).resolves.toEqual(undone);
    await expect(sqlHash('Amy')).resolves.toBe(fieldHash('Amy'));
  });
});
