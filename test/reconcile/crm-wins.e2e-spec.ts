import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { ADMIN, seedSandbox } from '../export/export-fixtures';
import { migratedDatabase } from '../support/database';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { produce } from '../support/kafka-io';
import { aProfileChange } from '../support/profile-events';
import { sandboxContacts, setFaults } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { exportReconciled, importedRows, publishProfiles } from './reconcile-fixtures';

const MAX_STALENESS_MS = 1_000;

describe('DRIFT_POLICY=crm-wins', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;
  let databaseUrl: string;
  const changes = uniqueName('crmwins.changes');
  const groupId = uniqueName('crmwins');

  async function startWith(driftPolicy: 'report' | 'crm-wins'): Promise<void> {
    sut = await startService(
      testConfig({
        DATABASE_URL: databaseUrl,
        SOURCE_TOPICS: `${changes}:profile-change.v1`,
        KAFKA_GROUP_ID: groupId,
        CAAC_BASE_URL: sandbox.url,
        EXPORT_POLL_MS: '50',
        FLUSH_INTERVAL_MS: '200',
        CAAC_BREAKER_RESET_MS: '200',
        CAAC_EXPORT_MAX_LAG_MS: String(MAX_STALENESS_MS),
        DRIFT_POLICY: driftPolicy,
      }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
  }

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 100, taskMsPerRow: 0.01, taskPendingMs: 20, logLevel: 'silent' });
    const database = await migratedDatabase('crm_wins');
    drop = database.drop;
    db = database.client;
    databaseUrl = database.url;
    await createTopics([{ topic: changes }]);
    await startWith('crm-wins');
  });

  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('restores fields changed in CAAC behind its back after the next export, while a newer CRM change still wins', async () => {
    await publishProfiles(changes, [1, 2, 3].map((n) => ({ customerId: `C-${n}`, profile: { display_name: `CRM ${n}`, city: 'Taipei' } })));
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);
    await seedSandbox(sandbox.url, [
      { customer_id: 'C-1', display_name: 'Edited 1' },
      { customer_id: 'C-2', display_name: 'Edited 2' },
      { customer_id: 'C-3', city: 'Edited city' },
    ]);
    await new Promise((resolve) => setTimeout(resolve, MAX_STALENESS_MS + 200));
    // CAAC takes no import for a while; meanwhile the CRM renames C-2 again.
    await setFaults(sandbox.url, { error_rate: { import: 1 } });
    await publishProfiles(changes, [{ customerId: 'C-2', profile: { display_name: 'CRM newer 2' } }]);
    await waitUntilStaged(db, changes);

    const { id, reconcile } = await exportReconciled(base, db);
    await setFaults(sandbox.url, {});
    await waitUntilImported(db);

    // C-2's drift is left: a newer CRM change of the field is pending, and it is what CAAC gets.
    expect(reconcile).toMatchObject({ driftFields: { city: 1, display_name: 2 }, driftContacts: 3, requeued: 2, newerKnown: 1 });
    const held = await sandboxContacts(sandbox.url);
    expect([1, 2, 3].map((n) => [held.get(`C-${n}`)?.display_name, held.get(`C-${n}`)?.city])).toEqual([
      ['CRM 1', 'Taipei'],
      ['CRM newer 2', 'Taipei'],
      ['CRM 3', 'Taipei'],
    ]);
    // The drift of that export stays readable, a page at a time.
    const first: any = await (await fetch(`${base}/admin/exports/${id}/drift?limit=2`, { headers: ADMIN })).json();
    const second: any = await (await fetch(`${base}/admin/exports/${id}/drift?limit=2&cursor=${first.next_cursor}`, { headers: ADMIN })).json();
    expect([...first.drift, ...second.drift].map((row: any) => [row.key_value, row.field, row.sent_value, row.caac_value])).toEqual([
      ['C-1', 'display_name', 'CRM 1', 'Edited 1'],
      ['C-2', 'display_name', 'CRM 2', 'Edited 2'],
      ['C-3', 'city', 'Taipei', 'Edited city'],
    ]);
    expect(second.next_cursor).toBeNull();
  });

  it('only reports a field imported under DRIFT_POLICY=report: its sent value was not kept, and no null clears it', async () => {
    await sut.close();
    await startWith('report');
    await publishProfiles(changes, [{ customerId: 'C-4', profile: { display_name: 'CRM 4' } }]);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);
    const { rows: kept } = await db.query(`SELECT caac_sync_state_extras(fields->'display_name') ? 'v' AS kept FROM contact_state WHERE key_type = 'customer_id' AND key_value = 'C-4'`);
    expect(kept).toEqual([{ kept: false }]);
    await sut.close();
    await startWith('crm-wins');
    await seedSandbox(sandbox.url, [{ customer_id: 'C-4', display_name: 'Edited 4' }]);
    await new Promise((resolve) => setTimeout(resolve, MAX_STALENESS_MS + 200));
    const rowsBefore = await importedRows(sandbox.url);

    const { id, reconcile } = await exportReconciled(base, db);
    // Time for the importer to send anything requeued (it flushes every 200 ms).
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    expect(reconcile).toMatchObject({ driftFields: { display_name: 1 }, driftContacts: 1, requeued: 0 });
    const drift: any = await (await fetch(`${base}/admin/exports/${id}/drift`, { headers: ADMIN })).json();
    expect(drift.drift.map((row: any) => [row.key_value, row.field, row.sent_value, row.caac_value])).toEqual([['C-4', 'display_name', null, 'Edited 4']]);
    await expect(db.query(`SELECT key_value FROM pending_change`)).resolves.toMatchObject({ rows: [] });
    await expect(importedRows(sandbox.url)).resolves.toBe(rowsBefore);
    expect((await sandboxContacts(sandbox.url)).get('C-4')?.display_name).toBe('Edited 4');
  });

  it('never alternates a field between the values sent through two keys of one contact, export after export', async () => {
    const t1 = new Date(Date.now() - 120_000).toISOString();
    const t2 = new Date(Date.now() - 60_000).toISOString();
    const send = async (key: Record<string, string>, occurredAt: string, name: string) => {
      await produce(changes, [{ key: Object.values(key)[0]!, value: JSON.stringify(aProfileChange({ occurred_at: occurredAt, key, profile: { display_name: name } })) }]);
      await waitUntilStaged(db, changes);
      await waitUntilImported(db);
    };
    const settle = () => new Promise((resolve) => setTimeout(resolve, MAX_STALENESS_MS + 200));
    /** An export, reconciled, then whatever it requeued imported; returns the outcome and CAAC's name. */
    const anExport = async () => {
      const { reconcile } = await exportReconciled(base, db);
      await waitUntilImported(db);
      return [reconcile.requeued, reconcile.newerKnown, (await sandboxContacts(sandbox.url)).get('C-5')?.display_name];
    };
    await seedSandbox(sandbox.url, [{ customer_id: 'C-5', display_email: 'five@example.com', display_name: 'Seeded' }]);
    await exportReconciled(base, db);
    // The CRM renames the contact through its customer id, then, later and newer, through its e-mail.
    await send({ customer_id: 'C-5' }, t1, 'Older');
    await send({ display_email: 'five@example.com' }, t2, 'Newest');
    await settle();

    // The customer id's value drifted (CAAC holds the newer one): never requeued over it.
    const second = await anExport();
    await settle();
    const third = await anExport();
    // Someone edits the name in CAAC: both keys drift, and only the CRM's newest value goes back.
    await seedSandbox(sandbox.url, [{ customer_id: 'C-5', display_name: 'Edited in CAAC' }]);
    await settle();
    const fourth = await anExport();
    await settle();
    const fifth = await anExport();

    // [requeued, left for a newer value, CAAC's name]: the customer id's drift is reported once and
    // learned; after the edit only the e-mail, which sent the newest value, drifts and is requeued.
    expect([second, third, fourth, fifth]).toEqual([
      [0, 1, 'Newest'],
      [0, 0, 'Newest'],
      [1, 0, 'Newest'],
      [0, 0, 'Newest'],
    ]);
  });
});
