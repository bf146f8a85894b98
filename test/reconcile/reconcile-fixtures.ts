import type { Client } from 'pg';
import { produce } from '../support/kafka-io';
import { aProfileChange } from '../support/profile-events';
import { sandboxLog } from '../support/sandbox-client';
import { waitFor } from '../support/wait-for';
import { ADMIN, jobEnded } from '../export/export-fixtures';

/** Requests an export on the service and waits until it is done and reconciled; returns the job's id and outcome. */
export async function exportReconciled(base: string, db: Client): Promise<{ id: string; reconcile: Record<string, any> }> {
  const started = await fetch(`${base}/admin/exports`, { method: 'POST', headers: ADMIN });
  if (started.status !== 202) throw new Error(`export refused: ${started.status} ${await started.text()}`);
  const { id } = (await started.json()) as { id: string };
  const job = await jobEnded(base, id);
  if (job.status !== 'done') throw new Error(`export ${id} ended ${job.status}: ${job.last_error}`);
  const reconcile = await waitFor(
    `export ${id} reconciled`,
    async () => (await db.query(`SELECT reconcile FROM export_job WHERE id = $1 AND reconciled_at IS NOT NULL`, [id])).rows[0]?.reconcile,
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  return { id, reconcile };
}

/** Publishes one profile-change.v1 event per contact, each setting `profile`, stamped now. */
export async function publishProfiles(topic: string, profiles: Array<{ customerId: string; profile: Record<string, unknown> }>): Promise<void> {
  const occurredAt = new Date().toISOString();
  const CHUNK = 1_000;
  for (let i = 0; i < profiles.length; i += CHUNK) {
    await produce(
      topic,
      profiles.slice(i, i + CHUNK).map(({ customerId, profile }) => ({
        key: customerId,
        value: JSON.stringify(aProfileChange({ occurred_at: occurredAt, key: { customer_id: customerId }, profile })),
      })),
    );
  }
}

/** Profiles in the import requests CAAC accepted. */
export async function importedRows(sandboxUrl: string): Promise<number> {
  const { requests } = await sandboxLog(sandboxUrl);
  return requests.filter((r) => r.method === 'POST' && r.path.endsWith('/member/import') && r.status === 202).reduce((sum, r) => sum + (r.rows ?? 0), 0);
}
