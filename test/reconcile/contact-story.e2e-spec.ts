import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { ADMIN } from '../export/export-fixtures';
import { migratedDatabase } from '../support/database';
import { highWatermarks, produce } from '../support/kafka-io';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { aProfileChange } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { setFaults } from '../support/sandbox-client';
import { waitFor } from '../support/wait-for';
import { exportReconciled, publishProfiles } from './reconcile-fixtures';

describe('GET /admin/contacts/:keyType/:keyValue (one contact\'s story)', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;
  let databaseUrl: string;
  const changes = uniqueName('story.changes');
  const groupId = uniqueName('story');

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 100, taskMsPerRow: 0.01, taskPendingMs: 20, logLevel: 'silent' });
    const database = await migratedDatabase('story');
    drop = database.drop;
    db = database.client;
    databaseUrl = database.url;
    await createTopics([{ topic: changes }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${changes}:profile-change.v1`,
        KAFKA_GROUP_ID: groupId,
        DLQ_TOPIC: uniqueName('story.dlq'),
        CAAC_BASE_URL: sandbox.url,
        EXPORT_POLL_MS: '50',
        FLUSH_INTERVAL_MS: '200',
      }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  const story = (keyType: string, keyValue: string) => fetch(`${base}/admin/contacts/${keyType}/${encodeURIComponent(keyValue)}`, { headers: ADMIN });

  it('tells a contact that went through ingest, import, export and a dead letter', async () => {
    await publishProfiles(changes, [{ customerId: 'C-story', profile: { display_name: 'Story', display_email: 'story@example.com', city: 'Tainan' } }]);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);
    // A change CAAC refuses for this contact: an import dead letter.
    await setFaults(sandbox.url, { row_rules: [{ field: 'company', equals: 'Forbidden Co', reason: 'company blocked by CAAC' }] });
    await publishProfiles(changes, [{ customerId: 'C-story', profile: { company: 'Forbidden Co' } }]);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);
    await setFaults(sandbox.url, {});
    const { id: exportId } = await exportReconciled(base, db);

    const response = await story('customer_id', '  C-story ');

    expect(response.status).toBe(200);
    const body: any = await response.json();
    const { rows: batches } = await db.query(`SELECT id::text AS id, task_id, finished_at FROM import_batch ORDER BY id`);
    expect(batches).toHaveLength(2);
    const imported = { learned_from_export: false, batch_id: batches[0].id, task_id: batches[0].task_id, batch_finished_at: batches[0].finished_at.toISOString() };
    expect(body).toMatchObject({
      key_type: 'customer_id',
      key_value: 'C-story',
      pending: null,
      in_flight: [],
      sent: {
        display_name: imported,
        display_email: imported,
        city: imported,
      },
      caac: [{ fields: { customer_id: 'C-story', display_name: 'Story', display_email: 'story@example.com', city: 'Tainan' }, export_id: exportId }],
      identity: {
        contacts: [
          {
            contact_id: body.caac[0].contact_id,
            export_id: exportId,
            keys: [
              { key_type: 'customer_id', key_value: 'C-story' },
              { key_type: 'display_email', key_value: 'story@example.com' },
            ],
          },
        ],
        ambiguous: false,
        untied: false,
      },
      drift: [],
      dead_letters: [{ stage: 'import', error_class: 'RowRejected', message: expect.stringContaining('company blocked by CAAC'), task_id: batches[1].task_id }],
    });
    // The refused company was never sent; the key itself CAAC showed in the export.
    expect(Object.keys(body.sent).sort()).toEqual(['city', 'customer_id', 'display_email', 'display_name']);
    expect(body.sent.customer_id).toMatchObject({ learned_from_export: true, batch_id: null, imported_at: null });
    expect(typeof body.sent.city.imported_at).toBe('string');
    // Under DRIFT_POLICY=report the values sent are not kept: CAAC's row above shows what it holds.
    expect(Object.values(body.sent).filter((entry: any) => 'value' in entry)).toEqual([]);

    // The same contact by its e-mail, written as a person would: learned from the export.
    const byEmail: any = await (await story('display_email', ' Story@Example.COM ')).json();
    expect(byEmail).toMatchObject({ key_type: 'display_email', key_value: 'story@example.com', pending: null, caac: [{ export_id: exportId }] });
    expect(byEmail.sent.display_name).toMatchObject({ learned_from_export: true, batch_id: null, imported_at: null });
  });

  it('answers for a key only an export knows: two CAAC contacts share it, so it is shown as ambiguous, not as unknown', async () => {
    // As reconcile leaves an export whose rows share an e-mail (reconcile.repository.int-spec shows
    // it writes a row per contact for a shared key, and learns no state for it).
    const { rows: exports } = await db.query(`SELECT max(export_id)::text AS id, max(exported_at) AS at FROM caac_contact`);
    const exportId = exports[0].id;
    for (const [contactId, customerId] of [['twin-1', 'C-twin-1'], ['twin-2', 'C-twin-2']]) {
      await db.query(`INSERT INTO caac_contact (contact_id, fields, export_id, exported_at) VALUES ($1, $2, $3, $4)`, [
        contactId,
        { customer_id: customerId, display_email: 'twin@example.com' },
        exportId,
        exports[0].at,
      ]);
      await db.query(`INSERT INTO contact_identity (key_type, key_value, contact_id, export_id) VALUES ('display_email', 'twin@example.com', $1, $2)`, [contactId, exportId]);
    }

    const response = await story('display_email', 'twin@example.com');

    expect(response.status).toBe(200);
    const body: any = await response.json();
    expect(body).toMatchObject({ pending: null, in_flight: [], sent: {}, drift: [], dead_letters: [], identity: { ambiguous: true, untied: false } });
    expect(body.caac.map((row: any) => [row.fields.customer_id, row.export_id])).toEqual(
      expect.arrayContaining([
        ['C-twin-1', exportId],
        ['C-twin-2', exportId],
      ]),
    );
    expect(body.identity.contacts).toHaveLength(2);
  });

  it('answers 503, never an empty story, when the story cannot be read in time', async () => {
    await db.query('BEGIN');
    try {
      await db.query('LOCK TABLE contact_state IN ACCESS EXCLUSIVE MODE');
      const response = await story('customer_id', 'C-story');

      expect(response.status).toBe(503);
      await expect(response.json()).resolves.toMatchObject({ message: "the contact's story could not be read within 5000 ms; try again" });
    } finally {
      await db.query('ROLLBACK');
    }
  });

  it('shows a pending change with its stamps and the message of its newest value', async () => {
    // An ingest-only instance, so the change stays pending.
    await sut.close();
    sut = await startService(
      testConfig({
        DATABASE_URL: databaseUrl,
        SOURCE_TOPICS: `${changes}:profile-change.v1`,
        KAFKA_GROUP_ID: groupId,
        CAAC_BASE_URL: sandbox.url,
        IMPORTER_ENABLED: 'false',
      }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
    const first = (await highWatermarks(changes)).get(0)!;
    // The later message is older by its source time: the source shown is the newest value's message.
    await produce(changes, [
      { key: 'C-pending', value: JSON.stringify(aProfileChange({ occurred_at: '2026-11-30T08:00:00.000Z', key: { customer_id: 'C-pending' }, profile: { display_name: 'Waiting' } })) },
      { key: 'C-pending', value: JSON.stringify(aProfileChange({ occurred_at: '2026-11-30T07:00:00.000Z', key: { customer_id: 'C-pending' }, profile: { display_name: 'Stale' } })) },
    ]);

    const body: any = await waitFor('the pending change', async () => {
      const response = await story('customer_id', 'C-pending');
      return response.status === 200 ? response.json() : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });

    expect(body).toMatchObject({
      pending: { fields: { display_name: { value: 'Waiting', ts: Date.parse('2026-11-30T08:00:00.000Z') } }, source: { topic: changes, partition: 0, offset: String(first) } },
      sent: {},
      caac: [],
    });
  });

  it('answers 404 for a contact the service has never seen, and 400 for a key it cannot read', async () => {
    const unknown = await story('customer_id', 'C-never');
    const badType = await story('nickname', 'x');
    const badEmail = await story('display_email', 'not an address');

    expect([unknown.status, badType.status, badEmail.status]).toEqual([404, 400, 400]);
    await expect(unknown.json()).resolves.toMatchObject({ message: 'the service has never seen the contact customer_id C-never: no pending change, import, export match, drift or dead letter' });
    await expect(badType.json()).resolves.toMatchObject({ message: 'keyType must be one of line_uid, display_email, display_mobile, connect_id, customer_id' });
    await expect(badEmail.json()).resolves.toMatchObject({ message: 'display_email is not an e-mail address' });
  });
});
