import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { fieldHash } from '../../src/profile';
import { ADMIN, seedSandbox } from '../export/export-fixtures';
import { migratedDatabase } from '../support/database';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { sandboxContacts } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { exportReconciled, importedRows, publishProfiles } from './reconcile-fixtures';

// Scaled: an export shows CAAC as it was EXPORT_LAG_MS before it was requested, and the service
// trusts an export only for fields it has not imported within MAX_LAG_MS (CAAC_EXPORT_MAX_LAG_MS)
// before that. Readiness calls an export old past READINESS_STALE_MS, shorter than the lag: an
// operator who wants to hear of a missed export soon must not shrink the trust window with it.
const EXPORT_LAG_MS = 4_000;
const MAX_LAG_MS = 6_000;
const READINESS_STALE_MS = 1_000;

describe('reconcile under export staleness', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;
  const changes = uniqueName('staleness.changes');

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, exportLagMs: EXPORT_LAG_MS, taskMinMs: 100, taskMsPerRow: 0.01, taskPendingMs: 20, logLevel: 'silent' });
    const database = await migratedDatabase('staleness');
    drop = database.drop;
    db = database.client;
    await createTopics([{ topic: changes }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${changes}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('staleness'),
        CAAC_BASE_URL: sandbox.url,
        EXPORT_POLL_MS: '50',
        FLUSH_INTERVAL_MS: '200',
        EXPORT_MAX_STALENESS_MS: String(READINESS_STALE_MS),
        CAAC_EXPORT_MAX_LAG_MS: String(MAX_LAG_MS),
      }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  async function sync(profiles: Array<{ customerId: string; profile: Record<string, unknown> }>): Promise<void> {
    await publishProfiles(changes, profiles);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);
  }

  async function knownHash(customerId: string, field: string): Promise<string | undefined> {
    const { rows } = await db.query(`SELECT (caac_sync_state_core(fields->$2))[1] AS h FROM contact_state WHERE key_type = 'customer_id' AND key_value = $1`, [customerId, field]);
    return rows[0]?.h;
  }

  it('keeps a recent import the export predates, and reports an old import CAAC no longer shows as drift', async () => {
    await seedSandbox(sandbox.url, [{ customer_id: 'C-new', display_name: 'Before' }]);
    await sync([{ customerId: 'C-old', profile: { display_name: 'Sent', city: 'Taipei' } }]);
    // Someone edits the contact in CAAC, behind the service's back.
    await seedSandbox(sandbox.url, [{ customer_id: 'C-old', display_name: 'Edited in CAAC' }]);
    // The import and the edit age past the staleness window and the export's lag.
    await new Promise((resolve) => setTimeout(resolve, MAX_LAG_MS + 500));
    await sync([{ customerId: 'C-new', profile: { display_name: 'Fresh' } }]);
    const importsBefore = await importedRows(sandbox.url);

    // Requested at once: the export still shows C-new as it was before the import.
    const { id, reconcile } = await exportReconciled(base, db);

    const { rows: exported } = await db.query(`SELECT fields->>'display_name' AS name FROM caac_contact WHERE fields->>'customer_id' = 'C-new'`);
    expect(exported).toEqual([{ name: 'Before' }]);
    expect(reconcile).toEqual({ matched: 2, learned: 0, driftFields: { display_name: 1 }, driftContacts: 1, requeued: 0, newerKnown: 0, identityKeys: 2 });
    await expect(knownHash('C-new', 'display_name')).resolves.toBe(fieldHash('Fresh'));
    await expect(knownHash('C-old', 'display_name')).resolves.toBe(fieldHash('Edited in CAAC'));
    await expect(knownHash('C-old', 'city')).resolves.toBe(fieldHash('Taipei'));
    const { rows: drift } = await db.query(`SELECT export_id::text AS export_id, key_type, key_value, field, sent_value, caac_value FROM contact_drift`);
    // DRIFT_POLICY=report keeps no value sent: the drift says which field, when, and what CAAC holds.
    expect(drift).toEqual([{ export_id: id, key_type: 'customer_id', key_value: 'C-old', field: 'display_name', sent_value: null, caac_value: 'Edited in CAAC' }]);
    const route: any = await (await fetch(`${base}/admin/exports/${id}/drift?limit=1`, { headers: ADMIN })).json();
    expect(route).toMatchObject({
      export_id: id,
      summary: reconcile,
      rows_kept: true,
      drift: [{ key_type: 'customer_id', key_value: 'C-old', field: 'display_name', sent_value: null, caac_value: 'Edited in CAAC', sent_at: expect.any(String) }],
      next_cursor: null,
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('caac_sync_drift_fields{field="display_name"} 1');
    expect(metrics).toContain('caac_sync_drift_contacts 1');

    // The CRM sends both contacts' current names again: only the drifted one goes to CAAC.
    await sync([
      { customerId: 'C-new', profile: { display_name: 'Fresh' } },
      { customerId: 'C-old', profile: { display_name: 'Sent' } },
    ]);

    await expect(importedRows(sandbox.url)).resolves.toBe(importsBefore + 1);
    const held = await sandboxContacts(sandbox.url);
    expect([held.get('C-new')?.display_name, held.get('C-old')?.display_name]).toEqual(['Fresh', 'Sent']);
  });

  it('learns nothing from the part of an export older than the lag, however short the readiness threshold, and sends a later clear', async () => {
    await seedSandbox(sandbox.url, [{ customer_id: 'C-clear', display_name: 'Known' }]);
    // CAAC's export will show the contact as seeded, before the city below was imported.
    await new Promise((resolve) => setTimeout(resolve, EXPORT_LAG_MS + 500));
    await sync([{ customerId: 'C-clear', profile: { city: 'Taipei' } }]);
    // Older than the readiness threshold, well inside the lag.
    await new Promise((resolve) => setTimeout(resolve, READINESS_STALE_MS + 500));

    await exportReconciled(base, db);

    const { rows: exported } = await db.query(`SELECT fields FROM caac_contact WHERE fields->>'customer_id' = 'C-clear'`);
    expect(exported).toEqual([{ fields: { customer_id: 'C-clear', display_name: 'Known' } }]);
    await expect(knownHash('C-clear', 'city')).resolves.toBe(fieldHash('Taipei'));
    const importsBefore = await importedRows(sandbox.url);

    // The CRM clears the city: the clear differs from what the service sent, so it goes.
    await sync([{ customerId: 'C-clear', profile: { city: null } }]);

    await expect(importedRows(sandbox.url)).resolves.toBe(importsBefore + 1);
    expect((await sandboxContacts(sandbox.url)).get('C-clear')).toEqual({ customer_id: 'C-clear', display_name: 'Known' });
  });
});
