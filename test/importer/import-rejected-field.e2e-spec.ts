import type { Client } from 'pg';
import type { RunningSandbox } from '../../src/sandbox/sandbox.server';
import { ADMIN } from '../export/export-fixtures';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { sandboxContacts } from '../support/sandbox-client';
import { startSandboxPipeline, type SandboxPipeline } from '../support/sandbox-pipeline';
import { publishProfiles } from '../reconcile/reconcile-fixtures';

/**
 * A row CAAC refuses for one field (here a mobile number another contact holds: CAAC keeps the
 * import keys, display_mobile among them, unique across contacts) still delivers its other fields,
 * and the import's end shows everywhere an operator looks: readiness, admin and metrics.
 */
describe('an import whose row CAAC rejects for one field', () => {
  let pipeline: SandboxPipeline;
  let sandbox: RunningSandbox;
  let db: Client;
  let base: string;
  let changes: string;

  beforeAll(async () => {
    pipeline = await startSandboxPipeline('rejected-field');
    ({ sandbox, db, base, changes } = pipeline);
  });

  afterAll(async () => {
    await pipeline?.close();
  });

  const readiness = async () => (await (await fetch(`${base}/health/ready`)).json()) as { details: { importer: { inFlight: unknown } } };
  const imports = async (query = '') => ((await (await fetch(`${base}/admin/imports${query}`, { headers: ADMIN })).json()) as { imports: Array<{ id: string; status: string }> }).imports;

  it('shows no batch in flight once an import has ended', async () => {
    await publishProfiles(changes, [
      { customerId: 'C-1', profile: { display_name: 'One', display_mobile: '0912-345-678' } },
      { customerId: 'C-2', profile: { display_name: 'Two' } },
    ]);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);

    await expect(readiness()).resolves.toMatchObject({ details: { importer: { inFlight: null } } });
    await expect(imports()).resolves.toMatchObject([{ status: 'done' }]);
  });

  it("dead-letters the display_mobile another contact holds and still delivers the row's member_level", async () => {
    await publishProfiles(changes, [{ customerId: 'C-2', profile: { display_mobile: '0912345678', member_level: 'gold' } }]);
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);

    const held = await sandboxContacts(sandbox.url);
    expect(held.get('C-2')).toEqual({ customer_id: 'C-2', display_name: 'Two', member_level: 'gold' });
    expect(held.get('C-1')).toMatchObject({ display_mobile: '+886912345678' });
    const { rows: letters } = await db.query(
      `SELECT convert_from(message_key, 'UTF8') AS key, convert_from(message, 'UTF8')::jsonb AS value, headers->>'caac-sync.errors.class' AS class,
              headers->>'caac-sync.errors.message' AS message FROM dead_letter_outbox`,
    );
    expect(letters).toEqual([
      {
        key: 'customer_id:C-2',
        value: { key: { customer_id: 'C-2' }, profile: { customer_id: 'C-2', display_mobile: '+886912345678' }, batch_id: expect.any(String) },
        class: 'FieldRejected',
        message: 'display_mobile: display_mobile +886912345678 already belongs to another contact',
      },
    ]);

    // Named the same in admin as in the imports_total metric, and filtered by that name.
    const all = await imports();
    expect(all.map((batch) => batch.status)).toEqual(['done', 'done_with_rejections', 'done']);
    await expect(imports('?status=done_with_rejections')).resolves.toEqual([expect.objectContaining({ id: all[1]!.id, status: 'done_with_rejections' })]);
    await expect(imports('?status=done')).resolves.toEqual([expect.objectContaining({ id: all[0]!.id }), expect.objectContaining({ id: all[2]!.id })]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('caac_sync_import_fields_rejected_total{field="display_mobile"} 1');
    expect(metrics).toContain('caac_sync_imports_total{outcome="done_with_rejections"} 1');
    await expect(readiness()).resolves.toMatchObject({ details: { importer: { inFlight: null } } });
  });
});
