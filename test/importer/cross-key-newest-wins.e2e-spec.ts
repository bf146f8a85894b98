import type { Client } from 'pg';
import type { RunningSandbox } from '../../src/sandbox/sandbox.server';
import { seedSandbox } from '../export/export-fixtures';
import { exportReconciled } from '../reconcile/reconcile-fixtures';
import { produce } from '../support/kafka-io';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { aProfileChange } from '../support/profile-events';
import { sandboxContacts } from '../support/sandbox-client';
import { startSandboxPipeline, type SandboxPipeline } from '../support/sandbox-pipeline';

/** Source times a minute apart, in the recent past (inside MAX_FUTURE_SKEW_MS either way). */
const T1 = new Date(Date.now() - 120_000).toISOString();
const T2 = new Date(Date.now() - 60_000).toISOString();

describe('newest wins across the keys of one contact (invariant 7)', () => {
  let pipeline: SandboxPipeline;
  let sandbox: RunningSandbox;
  let db: Client;
  let base: string;
  let changes: string;

  beforeAll(async () => {
    pipeline = await startSandboxPipeline('crosskey', { EXPORT_POLL_MS: '50' });
    ({ sandbox, db, base, changes } = pipeline);
  });

  afterAll(async () => {
    await pipeline?.close();
  });

  async function send(key: Record<string, string>, occurredAt: string, profile: Record<string, unknown>): Promise<void> {
    await produce(changes, [{ key: Object.values(key)[0]!, value: JSON.stringify(aProfileChange({ occurred_at: occurredAt, key, profile })) }]);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);
  }

  async function crossKeyStale(): Promise<number> {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('caac_sync_import_fields_dropped_total{reason="cross_key"}'));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  it('never sends an older change through one key over a newer one sent through another key of the same contact', async () => {
    await seedSandbox(sandbox.url, [{ customer_id: 'C-amy', display_email: 'amy@example.com', display_name: 'Seeded' }]);
    // The export tells the service that both keys reach one CAAC contact.
    await exportReconciled(base, db);

    await send({ display_email: 'amy@example.com' }, T2, { display_name: 'Newer' });
    const importedBefore = await db.query(`SELECT count(*)::int AS n FROM import_batch`);
    await send({ customer_id: 'C-amy' }, T1, { display_name: 'Older', city: 'Tainan' });

    const held = await sandboxContacts(sandbox.url);
    expect(held.get('C-amy')).toMatchObject({ display_email: 'amy@example.com', display_name: 'Newer', city: 'Tainan' });
    await expect(crossKeyStale()).resolves.toBe(1);
    // The older change's other field still went, in one more batch.
    await expect(db.query(`SELECT count(*)::int AS n FROM import_batch`)).resolves.toMatchObject({ rows: [{ n: importedBefore.rows[0].n + 1 }] });
  });

  it('drops an older change while the newer one through another key is still pending', async () => {
    await seedSandbox(sandbox.url, [{ customer_id: 'C-bo', display_email: 'bo@example.com', display_name: 'Seeded' }]);
    await exportReconciled(base, db);
    const staleBefore = await crossKeyStale();

    // Both arrive in one Kafka batch; whichever key type is claimed first, the newer value ends in CAAC.
    await produce(changes, [
      { key: 'bo@example.com', value: JSON.stringify(aProfileChange({ occurred_at: T2, key: { display_email: 'bo@example.com' }, profile: { display_name: 'Newer' } })) },
      { key: 'C-bo', value: JSON.stringify(aProfileChange({ occurred_at: T1, key: { customer_id: 'C-bo' }, profile: { display_name: 'Older' } })) },
    ]);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);

    expect((await sandboxContacts(sandbox.url)).get('C-bo')).toMatchObject({ display_name: 'Newer' });
    await expect(crossKeyStale()).resolves.toBe(staleBefore + 1);
  });
});
