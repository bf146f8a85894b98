import { Pool, type Client } from 'pg';
import type { DataSource } from 'typeorm';
import { CaacContactRepository } from '../../src/export/caac-contact.repository';
import { fieldHash } from '../../src/profile';
import { ReconcileRepository } from '../../src/reconcile/reconcile.repository';
import { migratedDataSource } from '../support/database';

const EXPORTED_AT = new Date('2026-12-01T00:00:00.000Z');
const STALENESS_MS = 86_400_000;
const CUTOFF = EXPORTED_AT.getTime() - STALENESS_MS;
const LONG_AGO = CUTOFF - 3_600_000;
const RECENTLY = CUTOFF + 3_600_000;

/** A contact_state entry as the importer records it. */
function anImportedField(value: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { h: fieldHash(value as string), ts: 1_000, seq: 3, at: LONG_AGO, v: value, b: '1', ...overrides };
}

describe(ReconcileRepository.name, () => {
  let db: Client;
  let dataSource: DataSource;
  let pool: Pool;
  let drop: () => Promise<void>;
  const sut = new ReconcileRepository();
  let exportId = 0;

  beforeAll(async () => {
    const database = await migratedDataSource('reconcile_repository');
    db = database.client;
    dataSource = database.dataSource;
    drop = database.drop;
    pool = new Pool({ connectionString: database.url, max: 1 });
    await new CaacContactRepository(pool, 'abc123').ensureSchema('default');
  });

  afterAll(async () => {
    await pool?.end();
    await drop();
  });

  beforeEach(async () => {
    await db.query(`TRUNCATE contact_state, contact_drift, caac_contact, pending_change`);
  });

  async function anExport(rows: Array<Record<string, string>>, fields: string[] | null = null) {
    const id = String(++exportId);
    for (const [i, row] of rows.entries()) {
      await db.query(`INSERT INTO caac_contact (contact_id, fields, export_id, exported_at) VALUES ($1, $2, $3, $4)`, [`cid-${id}-${i}`, row, id, EXPORTED_AT]);
    }
    return { id, exportedAt: EXPORTED_AT, fields };
  }

  /** learn then summarise, on one connection, as the service runs them. */
  async function reconcile(job: { id: string; exportedAt: Date; fields: string[] | null }) {
    return dataSource.transaction(async (tx) => ({ ...(await sut.learn(tx, job, CUTOFF)), ...(await sut.summarise(tx, job.id)) }));
  }

  async function state(keyType: string, keyValue: string): Promise<Record<string, any> | undefined> {
    const { rows } = await db.query(`SELECT fields FROM contact_state WHERE key_type = $1 AND key_value = $2`, [keyType, keyValue]);
    return rows[0]?.fields;
  }

  async function known(keyType: string, keyValue: string, fields: Record<string, Record<string, unknown>>, updatedAt = new Date(LONG_AGO)) {
    await db.query(`INSERT INTO contact_state (key_type, key_value, fields, updated_at) VALUES ($1, $2, $3, $4)`, [keyType, keyValue, fields, updatedAt]);
  }

  it('learns contacts it never saw under every import key in the row, e-mail lower-cased, typed as the importer hashes', async () => {
    const job = await anExport([{ customer_id: 'C-1', display_email: ' Amy@Example.COM', star_mark: 'true', cl_custom_points: '12.5', age: '30' }]);

    const outcome = await reconcile(job);

    expect(outcome).toEqual({ matched: 0, learned: 2, driftFields: {}, driftContacts: 0 });
    const learned = (value: unknown) => ({ h: fieldHash(value as string), ts: 0, seq: -1, l: true });
    const expected = { customer_id: learned('C-1'), display_email: learned(' Amy@Example.COM'), star_mark: learned(true), cl_custom_points: learned(12.5) };
    await expect(state('customer_id', 'C-1')).resolves.toEqual(expected);
    await expect(state('display_email', 'amy@example.com')).resolves.toEqual(expected);
  });

  it('skips a key value two exported contacts share: which one is meant cannot be known', async () => {
    const job = await anExport([
      { customer_id: 'C-1', display_email: 'shared@example.com' },
      { customer_id: 'C-2', display_email: 'Shared@example.com' },
    ]);

    await reconcile(job);

    await expect(state('display_email', 'shared@example.com')).resolves.toBeUndefined();
    await expect(state('customer_id', 'C-2')).resolves.toMatchObject({ display_email: { l: true } });
  });

  it('keeps a field imported since the cutoff, and a field an export of chosen columns did not carry', async () => {
    await known('customer_id', 'C-1', {
      display_name: anImportedField('New name', { at: RECENTLY }),
      city: anImportedField('Taipei'),
    });
    const job = await anExport([{ customer_id: 'C-1', display_name: 'Old name' }], ['customer_id', 'display_name']);

    const outcome = await reconcile(job);

    expect(outcome).toEqual({ matched: 1, learned: 0, driftFields: {}, driftContacts: 0 });
    await expect(state('customer_id', 'C-1')).resolves.toMatchObject({
      display_name: anImportedField('New name', { at: RECENTLY }),
      city: anImportedField('Taipei'),
    });
  });

  it('reports a field CAAC cleared as drift, and dates an entry recorded before import times were kept by its row', async () => {
    const { at: _at, v: _v, b: _b, ...legacy } = anImportedField('Taipei');
    await known('customer_id', 'C-1', { city: legacy, company: anImportedField('Acme') }, new Date(LONG_AGO));
    await known('customer_id', 'C-2', { city: legacy }, new Date(RECENTLY));
    const job = await anExport([{ customer_id: 'C-1', company: 'Acme' }, { customer_id: 'C-2' }]);

    const outcome = await reconcile(job);

    expect(outcome).toEqual({ matched: 2, learned: 0, driftFields: { city: 1 }, driftContacts: 1 });
    await expect(state('customer_id', 'C-1')).resolves.toMatchObject({ city: { h: fieldHash(null), ts: 1_000, seq: -1, l: true, dx: Number(job.id), dh: legacy.h } });
    await expect(state('customer_id', 'C-2')).resolves.toMatchObject({ city: legacy });
    const { rows } = await db.query(`SELECT key_value, field, sent_value IS NULL AS unknown, caac_value FROM contact_drift`);
    expect(rows).toEqual([{ key_value: 'C-1', field: 'city', unknown: true, caac_value: null }]);
    // Its sent value is unknown: crm-wins leaves it to the report rather than clearing the field.
    await expect(dataSource.transaction((tx) => sut.requeueDrift(tx, job.id))).resolves.toBe(0);
  });

  it('reports a field the service cleared and CAAC holds again, and crm-wins clears it again', async () => {
    await known('customer_id', 'C-1', { city: anImportedField(null) });
    const job = await anExport([{ customer_id: 'C-1', city: 'Taipei' }]);

    await reconcile(job);
    const requeued = await dataSource.transaction((tx) => sut.requeueDrift(tx, job.id));

    expect(requeued).toBe(1);
    const { rows } = await db.query(`SELECT fields FROM pending_change WHERE key_value = 'C-1'`);
    expect(rows[0].fields).toEqual({ city: { v: null, ts: 1_000, seq: 3 } });
  });

  it('queues the value last sent for crm-wins with its old stamp, under a newer pending change', async () => {
    await known('customer_id', 'C-1', { city: anImportedField('Taipei'), company: anImportedField('Acme') });
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('customer_id', 'C-1', $1)`, [{ company: { v: 'Newer Co', ts: 2_000, seq: 0 } }]);
    const job = await anExport([{ customer_id: 'C-1', city: 'Tainan', company: 'Edited Co' }]);

    const requeued = await dataSource.transaction(async (tx) => {
      await sut.learn(tx, job, CUTOFF);
      await sut.summarise(tx, job.id);
      return sut.requeueDrift(tx, job.id);
    });

    expect(requeued).toBe(2);
    const { rows } = await db.query(`SELECT fields FROM pending_change WHERE key_value = 'C-1'`);
    expect(rows[0].fields).toEqual({ city: { v: 'Taipei', ts: 1_000, seq: 3 }, company: { v: 'Newer Co', ts: 2_000, seq: 0 } });
  });
});
