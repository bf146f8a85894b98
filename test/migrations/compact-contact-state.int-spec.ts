import type { DataSource } from 'typeorm';
import type { CaacClient } from '../../src/caac/caac.client';
import { systemClock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import { ImportScheduler } from '../../src/importer/import-scheduler.service';
import { CompactContactState1796050000001 } from '../../src/migrations/1796050000001-compact-contact-state';
import { Metrics } from '../../src/telemetry/metrics';
import { fieldHash, type FieldValue } from '../../src/profile';
import { createDataSource, runMigrations } from '../../src/store/data-source';
import { asEntryObjects } from '../support/contact-state-entries';
import { freshDatabase, migrateToJustBefore } from '../support/database';
import { testConfig } from '../support/service';

// Values of every type, numbers in the forms Postgres and JavaScript write differently, and
// characters outside the BMP.
const VALUES: Array<FieldValue | null> = ['Amy', '', '台北', '\u{1F600}', 'a"b\\c', 1, 0, -2.5, 1e-7, 1e21, 0.1, 2 ** 53 + 2, true, false, null];
const UPDATED_AT = new Date('2026-11-01T00:00:00.000Z');
/** Contacts in the old layout besides the five below: more than the migration rewrites in one step. */
const BULK = 45_000;
const AT = 1_764_547_200_123;

/** Entries as the object layout held them (before 1796050000001). */
const OLD: Record<string, Record<string, Record<string, unknown>>> = {
  // Imported under crm-wins: hash, stamp, import time, value and batch.
  'C-1': Object.fromEntries(VALUES.map((value, i) => [`cl_custom_f${i}`, { h: fieldHash(value), ts: 1_000 + i, seq: 3, at: AT, v: value, b: '7' }])),
  // A drifted field: CAAC's value learned, the sent one in the drift marks.
  'C-2': { display_name: { h: fieldHash('Edited'), ts: 1_000, seq: -1, l: true, dx: 9, dh: fieldHash('Amy'), dseq: 3, dat: AT, dv: 'Amy' } },
  // Recorded before "at", "v" and "b" were kept.
  'C-3': { city: { h: fieldHash('台北'), ts: 1_000, seq: 3 } },
  // Imported under report (no value), and a value only confirmed (no batch).
  'C-4': { display_name: { h: fieldHash('Bo'), ts: 1_765_000_000_000, seq: 123_456_789, at: AT, b: '12345' }, city: { h: fieldHash('Taipei'), ts: 2, seq: 0, at: AT } },
  // Learned from an export, never sent.
  'C-5': { gender: { h: fieldHash('female'), ts: 0, seq: -1, l: true } },
};

describe(CompactContactState1796050000001.name, () => {
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  let reapplied: string[];

  async function stored(keyValue: string): Promise<Record<string, unknown>> {
    const [row] = await dataSource.query(`SELECT fields FROM contact_state WHERE key_type = 'customer_id' AND key_value = $1`, [keyValue]);
    return row.fields;
  }

  beforeAll(async () => {
    const database = await freshDatabase('compact_contact_state');
    drop = database.drop;
    dataSource = createDataSource({ url: database.url, poolMax: 2 });
    await dataSource.initialize();
    reapplied = await migrateToJustBefore(dataSource, CompactContactState1796050000001);

    const insert = `INSERT INTO contact_state (key_type, key_value, fields, updated_at) VALUES ('customer_id', $1, $2, $3)`;
    for (const [keyValue, fields] of Object.entries(OLD)) await dataSource.query(insert, [keyValue, fields, UPDATED_AT]);
    await dataSource.query(
      `INSERT INTO contact_state (key_type, key_value, fields, updated_at)
       SELECT 'customer_id', 'B-' || lpad(i::text, 6, '0'), jsonb_build_object('display_name', jsonb_build_object('h', 'hash' || i, 'ts', i, 'seq', 0, 'at', $2::bigint, 'b', '1')), $1
         FROM generate_series(1, ${BULK}) i`,
      [UPDATED_AT, AT],
    );

    await expect(runMigrations(dataSource)).resolves.toEqual(reapplied);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await drop?.();
  });

  it('packs every entry in place, keeping each hash, stamp, import time, batch, value and mark exactly, and the rows’ times', async () => {
    for (const [keyValue, fields] of Object.entries(OLD)) {
      const packed = await stored(keyValue);
      expect([keyValue, asEntryObjects(packed as never)]).toEqual([keyValue, fields]);
    }
    await expect(stored('C-3')).resolves.toEqual({ city: `${fieldHash('台北')} 1000 3` });
    await expect(stored('C-4')).resolves.toEqual({ display_name: `${fieldHash('Bo')} 1765000000000 123456789 ${AT} 12345`, city: `${fieldHash('Taipei')} 2 0 ${AT}` });
    await expect(stored('C-5')).resolves.toEqual({ gender: [`${fieldHash('female')} 0 -1`, { l: true }] });
    await expect(stored(`B-${String(BULK).padStart(6, '0')}`)).resolves.toEqual({ display_name: `hash${BULK} ${BULK} 0 ${AT} 1` });
    await expect(
      dataSource.query(`SELECT count(*)::int AS n FROM contact_state c WHERE EXISTS (SELECT 1 FROM jsonb_each(c.fields) e WHERE jsonb_typeof(e.value) = 'object')`),
    ).resolves.toEqual([{ n: 0 }]);
    await expect(dataSource.query(`SELECT DISTINCT updated_at FROM contact_state`)).resolves.toEqual([{ updated_at: UPDATED_AT }]);
  });

  it('sends nothing again for the values CAAC holds, in either layout, and still sends a changed one', async () => {
    const staged = (fields: Record<string, FieldValue | null>) => JSON.stringify(Object.fromEntries(Object.entries(fields).map(([field, v]) => [field, { v, ts: 1_800_000_000_000, seq: 0 }])));
    const stage = `INSERT INTO pending_change (key_type, key_value, fields) VALUES ('customer_id', $1, $2)`;
    await dataSource.query(stage, ['C-1', staged(Object.fromEntries(VALUES.map((value, i) => [`cl_custom_f${i}`, value])))]);
    await dataSource.query(stage, ['C-2', staged({ display_name: 'Edited' })]);
    await dataSource.query(stage, ['C-3', staged({ city: '台北' })]);
    await dataSource.query(stage, ['C-4', staged({ display_name: 'Bo', city: 'Tainan' })]);
    // An instance of the previous version, still running during a rolling deploy, records an import in the object layout.
    await dataSource.query(`INSERT INTO contact_state (key_type, key_value, fields) VALUES ('customer_id', 'C-6', $1)`, [
      { company: { h: fieldHash('Acme'), ts: 1_000, seq: 0, at: AT, b: '8' } },
    ]);
    await dataSource.query(stage, ['C-6', staged({ company: 'Acme' })]);
    const metrics = new Metrics();
    const config = testConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', SOURCE_TOPICS: 'unused:profile-change.v1' });
    const sut = new ImportScheduler(config, createLogger({ level: 'silent' }), systemClock, dataSource, {} as CaacClient, metrics);
    await sut.takeOver();

    const batch = await sut.claim('customer_id');

    expect(batch).toMatchObject({ rows: 1 });
    await expect(dataSource.query(`SELECT key_value, fields FROM import_batch_item`)).resolves.toEqual([
      { key_value: 'C-4', fields: { city: { v: 'Tainan', ts: 1_800_000_000_000, seq: 0 } } },
    ]);
    await expect(metrics.importFieldsDropped.get()).resolves.toMatchObject({
      values: expect.arrayContaining([{ labels: { reason: 'unchanged' }, value: VALUES.length + 4 }]),
    });
    // What CAAC holds is confirmed at the newer stamp, under the same hash, packed.
    await expect(stored('C-3')).resolves.toEqual({ city: expect.stringMatching(new RegExp(`^${fieldHash('台北')} 1800000000000 0 \\d+$`)) });
    await expect(stored('C-6')).resolves.toEqual({ company: expect.stringMatching(new RegExp(`^${fieldHash('Acme')} 1800000000000 0 \\d+$`)) });
  });

  it('goes back to the object layout exactly, and up again', async () => {
    const undone = await migrateToJustBefore(dataSource, CompactContactState1796050000001);
    await expect(stored('C-5')).resolves.toEqual(OLD['C-5']);
    await expect(stored('B-000001')).resolves.toEqual({ display_name: { h: 'hash1', ts: 1, seq: 0, at: AT, b: '1' } });

    await expect(runMigrations(dataSource)).resolves.toEqual(undone);
    await expect(stored('C-5')).resolves.toEqual({ gender: [`${fieldHash('female')} 0 -1`, { l: true }] });
  });
});
