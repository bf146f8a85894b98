import { Pool, type Client } from 'pg';
import type { DataSource } from 'typeorm';
import { CaacContactRepository } from '../../src/export/caac-contact.repository';
import { fieldHash } from '../../src/profile';
import { ReconcileRepository } from '../../src/reconcile/reconcile.repository';
import { migratedDataSource } from '../support/database';
import { asEntryObjects, packedEntries, type EntryObject } from '../support/contact-state-entries';

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
    await db.query(`TRUNCATE contact_state, contact_drift, caac_contact, pending_change, contact_identity, contact_identity_untied, import_batch CASCADE`);
  });

  /** An export's rows in caac_contact, as the export runner leaves a complete one (contact ids `cid-<i>` unless given). */
  async function anExport(rows: Array<Record<string, string>>, options: { fields?: string[] | null; columns?: string[] | null; contactIds?: string[] } = {}) {
    const id = String(++exportId);
    await db.query(`DELETE FROM caac_contact`);
    for (const [i, row] of rows.entries()) {
      await db.query(`INSERT INTO caac_contact (contact_id, fields, export_id, exported_at) VALUES ($1, $2, $3, $4)`, [options.contactIds?.[i] ?? `cid-${i}`, row, id, EXPORTED_AT]);
    }
    return { id, exportedAt: EXPORTED_AT, fields: options.fields ?? null, columns: options.columns ?? null };
  }

  type Job = Awaited<ReturnType<typeof anExport>>;

  /** learn then summarise, on one connection, as the service runs them, on the file's own columns. */
  async function reconcile(job: Job) {
    return dataSource.transaction(async (tx) => ({ ...(await sut.learn(tx, job, await sut.fileColumns(tx, job), CUTOFF)), ...(await sut.summarise(tx, job.id)) }));
  }

  async function state(keyType: string, keyValue: string): Promise<Record<string, any> | undefined> {
    const { rows } = await db.query(`SELECT fields FROM contact_state WHERE key_type = $1 AND key_value = $2`, [keyType, keyValue]);
    return rows[0] && asEntryObjects(rows[0].fields);
  }

  async function known(keyType: string, keyValue: string, fields: Record<string, Record<string, unknown>>, updatedAt = new Date(LONG_AGO)) {
    await db.query(`INSERT INTO contact_state (key_type, key_value, fields, updated_at) VALUES ($1, $2, $3, $4)`, [keyType, keyValue, packedEntries(fields as unknown as Record<string, EntryObject>), updatedAt]);
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
    const job = await anExport([{ customer_id: 'C-1', display_name: 'Old name' }], { fields: ['customer_id', 'display_name'] });

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
    // The header has the city column: its empty cells are clears.
    const job = await anExport([{ customer_id: 'C-1', company: 'Acme' }, { customer_id: 'C-2' }], { columns: ['contact_id', 'customer_id', 'company', 'city'] });

    const outcome = await reconcile(job);

    expect(outcome).toEqual({ matched: 2, learned: 0, driftFields: { city: 1 }, driftContacts: 1 });
    await expect(state('customer_id', 'C-1')).resolves.toMatchObject({ city: { h: fieldHash(null), ts: 1_000, seq: -1, l: true, dx: Number(job.id), dh: legacy.h } });
    await expect(state('customer_id', 'C-2')).resolves.toMatchObject({ city: legacy });
    const { rows } = await db.query(`SELECT key_value, field, sent_value IS NULL AS unknown, caac_value FROM contact_drift`);
    expect(rows).toEqual([{ key_value: 'C-1', field: 'city', unknown: true, caac_value: null }]);
    // Its sent value is unknown: crm-wins leaves it to the report rather than clearing the field.
    await expect(dataSource.transaction((tx) => sut.requeueDrift(tx, job.id))).resolves.toEqual({ requeued: 0, newerKnown: 0 });
  });

  it('reports a field the service cleared and CAAC holds again, and crm-wins clears it again', async () => {
    await known('customer_id', 'C-1', { city: anImportedField(null) });
    const job = await anExport([{ customer_id: 'C-1', city: 'Taipei' }]);

    await reconcile(job);
    const requeued = await dataSource.transaction((tx) => sut.requeueDrift(tx, job.id));

    expect(requeued).toEqual({ requeued: 1, newerKnown: 0 });
    const { rows } = await db.query(`SELECT fields FROM pending_change WHERE key_value = 'C-1'`);
    expect(rows[0].fields).toEqual({ city: { v: null, ts: 1_000, seq: 3 } });
  });

  it('queues the value last sent for crm-wins with its old stamp, and leaves a field with a newer change pending', async () => {
    await known('customer_id', 'C-1', { city: anImportedField('Taipei'), company: anImportedField('Acme') });
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('customer_id', 'C-1', $1)`, [{ company: { v: 'Newer Co', ts: 2_000, seq: 0 } }]);
    const job = await anExport([{ customer_id: 'C-1', city: 'Tainan', company: 'Edited Co' }]);

    const requeued = await dataSource.transaction(async (tx) => {
      await sut.learn(tx, job, null, CUTOFF);
      await sut.summarise(tx, job.id);
      return sut.requeueDrift(tx, job.id);
    });

    expect(requeued).toEqual({ requeued: 1, newerKnown: 1 });
    const { rows } = await db.query(`SELECT fields FROM pending_change WHERE key_value = 'C-1'`);
    expect(rows[0].fields).toEqual({ city: { v: 'Taipei', ts: 1_000, seq: 3 }, company: { v: 'Newer Co', ts: 2_000, seq: 0 } });
  });

  async function identity(): Promise<Array<[string, string, string]>> {
    const { rows } = await db.query(`SELECT key_type, key_value, contact_id FROM contact_identity ORDER BY key_type, key_value, contact_id`);
    return rows.map((row) => [row.key_type, row.key_value, row.contact_id]);
  }

  it('records which keys reach which contact, a shared key under both, and replaces it export by export', async () => {
    const first = await anExport(
      [
        { customer_id: 'C-1', display_email: ' Amy@Example.com', display_name: 'Amy' },
        { customer_id: 'C-2', display_email: 'shared@example.com' },
        { line_uid: 'U-3', display_email: 'Shared@example.com' },
      ],
      { contactIds: ['x1', 'x2', 'x3'] },
    );
    await expect(dataSource.transaction((tx) => sut.learnIdentity(tx, first.id, CUTOFF))).resolves.toBe(6);
    await expect(identity()).resolves.toEqual([
      ['customer_id', 'C-1', 'x1'],
      ['customer_id', 'C-2', 'x2'],
      ['display_email', 'amy@example.com', 'x1'],
      ['display_email', 'shared@example.com', 'x2'],
      ['display_email', 'shared@example.com', 'x3'],
      ['line_uid', 'U-3', 'x3'],
    ]);

    // The next export: C-2 is gone, the e-mail is no longer shared.
    const second = await anExport([{ customer_id: 'C-1', display_email: 'amy@example.com' }, { line_uid: 'U-3', display_email: 'shared@example.com' }], { contactIds: ['x1', 'x3'] });
    await dataSource.transaction((tx) => sut.learnIdentity(tx, second.id, CUTOFF));

    await expect(identity()).resolves.toEqual([
      ['customer_id', 'C-1', 'x1'],
      ['display_email', 'amy@example.com', 'x1'],
      ['display_email', 'shared@example.com', 'x3'],
      ['line_uid', 'U-3', 'x3'],
    ]);
  });

  it('ties a key the service moved again only with an export taken after the batch that moved it ended', async () => {
    const { rows: batches } = await db.query(
      `INSERT INTO import_batch (account, key_type, status, rows, finished_at) VALUES
         ('default', 'customer_id', 'done', 1, $1), ('default', 'customer_id', 'done', 1, $2) RETURNING id::text AS id`,
      [new Date(CUTOFF - 1_000), new Date(CUTOFF + 1_000)],
    );
    await db.query(`INSERT INTO contact_identity_untied (key_type, key_value, batch_id) VALUES ('display_email', 'before@example.com', $1), ('display_email', 'after@example.com', $2)`, [
      batches[0].id,
      batches[1].id,
    ]);
    const job = await anExport([{ customer_id: 'C-1', display_email: 'before@example.com' }]);

    await dataSource.transaction((tx) => sut.learnIdentity(tx, job.id, CUTOFF));

    const { rows } = await db.query(`SELECT key_value FROM contact_identity_untied`);
    expect(rows).toEqual([{ key_value: 'after@example.com' }]);
  });

  it('learns nothing as cleared from a column the file does not have, whether its header was recorded or not', async () => {
    await known('customer_id', 'C-1', { display_name: anImportedField('Amy'), city: anImportedField('Taipei') });
    const withoutHeader = () => anExport([{ customer_id: 'C-1', display_name: 'Amy' }]);
    const withHeader = () => anExport([{ customer_id: 'C-1', display_name: 'Amy' }], { columns: ['contact_id', 'customer_id', 'display_name'] });

    const outcomes = [await reconcile(await withoutHeader()), await reconcile(await withHeader())];

    expect(outcomes).toEqual([
      { matched: 1, learned: 0, driftFields: {}, driftContacts: 0 },
      { matched: 1, learned: 0, driftFields: {}, driftContacts: 0 },
    ]);
    await expect(state('customer_id', 'C-1')).resolves.toEqual({ display_name: anImportedField('Amy'), city: anImportedField('Taipei'), customer_id: { h: fieldHash('C-1'), ts: 0, seq: -1, l: true } });
  });

  it('gives the same state when run twice on one export, with drift and a cell it cannot read', async () => {
    await known('customer_id', 'C-1', { city: anImportedField('Taipei'), star_mark: anImportedField(true) });
    const job = await anExport([{ customer_id: 'C-1', city: 'Tainan', star_mark: 'TRUE' }, { customer_id: 'C-2', star_mark: 'TRUE', display_name: 'New' }]);
    const snapshot = async () => ({
      state: (await db.query(`SELECT key_type, key_value, fields FROM contact_state ORDER BY key_type, key_value`)).rows,
      drift: (await db.query(`SELECT * FROM contact_drift ORDER BY key_type, key_value, field`)).rows,
      identity: await identity(),
    });
    const run = () =>
      dataSource.transaction(async (tx) => ({
        identityKeys: await sut.learnIdentity(tx, job.id, CUTOFF),
        ...(await sut.learn(tx, job, await sut.fileColumns(tx, job), CUTOFF)),
        ...(await sut.summarise(tx, job.id)),
      }));

    const first = await run();
    const afterFirst = await snapshot();
    const second = await run();

    expect(first).toEqual({ identityKeys: 2, matched: 1, learned: 1, driftFields: { city: 1, star_mark: 1 }, driftContacts: 1 });
    expect(second).toEqual({ ...first, matched: 2, learned: 0 });
    await expect(snapshot()).resolves.toEqual(afterFirst);
    expect(afterFirst.drift).toHaveLength(2);
  });

  it('leaves to the report a drifted value older than one sent through another key of the same contact', async () => {
    await known('customer_id', 'C-1', { display_name: anImportedField('Older', { ts: 1_000 }) });
    await known('display_email', 'amy@example.com', { display_name: anImportedField('Newer', { ts: 2_000 }) });
    await known('customer_id', 'C-2', { display_name: anImportedField('Alone', { ts: 1_000 }) });
    const job = await anExport(
      [
        { customer_id: 'C-1', display_email: 'amy@example.com', display_name: 'Edited' },
        { customer_id: 'C-2', display_name: 'Edited too' },
      ],
      { contactIds: ['x1', 'x2'] },
    );

    const requeued = await dataSource.transaction(async (tx) => {
      await sut.learnIdentity(tx, job.id, CUTOFF);
      await sut.learn(tx, job, null, CUTOFF);
      await sut.summarise(tx, job.id);
      return sut.requeueDrift(tx, job.id);
    });

    // C-1 and its e-mail both drifted; only the newest value of the contact goes back.
    expect(requeued).toEqual({ requeued: 2, newerKnown: 1 });
    const { rows } = await db.query(`SELECT key_type, key_value, fields FROM pending_change ORDER BY key_type, key_value`);
    expect(rows).toEqual([
      { key_type: 'customer_id', key_value: 'C-2', fields: { display_name: { v: 'Alone', ts: 1_000, seq: 3 } } },
      { key_type: 'display_email', key_value: 'amy@example.com', fields: { display_name: { v: 'Newer', ts: 2_000, seq: 3 } } },
    ]);
  });
});
