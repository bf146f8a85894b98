import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { createTopics, uniqueName } from '../support/service';
import { ServiceProcess } from '../support/service-process';
import { waitFor } from '../support/wait-for';
import { ADMIN, expectedRows, jobEnded, removeFromSandbox, seedSandbox, tableRows, topicState } from './export-fixtures';

/** Enough rows that downloading and merging take long enough to be killed in the middle. */
const CONTACTS = 100_000;

describe('export under SIGKILL', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let service: ServiceProcess;
  const exportTopic = uniqueName('export-crash.contacts');

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 100, taskMsPerRow: 0, taskPendingMs: 20, logLevel: 'silent' });
    const database = await migratedDatabase('export_crash');
    drop = database.drop;
    db = database.client;
    const source = uniqueName('export-crash.changes');
    await createTopics([{ topic: source }]);
    service = new ServiceProcess({
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${source}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('export-crash'),
      DLQ_TOPIC: uniqueName('export-crash.dlq'),
      CAAC_BASE_URL: sandbox.url,
      EXPORT_TOPIC: exportTopic,
      EXPORT_POLL_MS: '20',
    });
    await seedSandbox(
      sandbox.url,
      Array.from({ length: CONTACTS }, (_, i) => ({ customer_id: `C-${i}`, display_name: `Name, "${i}"\r\nsecond line`, cl_custom_points: i })),
    );
  });

  afterAll(async () => {
    await service?.kill();
    await sandbox?.close();
    await drop?.();
  });

  async function startExport(): Promise<string> {
    const response = await fetch(service.url('/admin/exports'), { method: 'POST', headers: ADMIN });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  }

  /** Kills the service as soon as the job's row says it is in the step `when` describes. */
  async function killWhen(id: string, what: string, when: string): Promise<void> {
    await waitFor(
      what,
      async () => {
        const { rows } = await db.query(`SELECT 1 FROM export_job WHERE id = $1 AND ${when}`, [id]);
        return rows.length > 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 5 },
    );
    await service.kill();
  }

  async function expectDelivered(id: string): Promise<void> {
    const job = await jobEnded(service.url(''), id);
    const expected = await expectedRows(sandbox.url);
    expect(job).toMatchObject({ status: 'done', rows_written: expected.size, table: { rows: expected.size } });
    const table = await tableRows(db);
    expect(table.size).toBe(expected.size);
    for (const [contactId, fields] of expected) {
      const row = table.get(contactId);
      if (row?.export_id !== id || JSON.stringify(row.fields) !== JSON.stringify(fields)) expect([contactId, row]).toEqual([contactId, { fields, export_id: id }]);
    }
    const { latest } = await topicState(exportTopic);
    const values = [...latest.entries()].filter(([, value]) => value !== null);
    expect(values).toHaveLength(expected.size);
    for (const [contactId, fields] of expected) {
      const value = latest.get(contactId) as { fields?: unknown; export_id?: string } | null;
      if (value?.export_id !== id || JSON.stringify(value.fields) !== JSON.stringify(fields)) expect([contactId, value]).toEqual([contactId, expect.objectContaining({ fields, export_id: id })]);
    }
  }

  it('restarts a download cut by SIGKILL and delivers the export whole', async () => {
    await service.start();
    const id = await startExport();

    await killWhen(id, 'the download to begin', `status = 'downloading' AND loaded_at IS NULL`);
    const { rows } = await db.query(`SELECT status, loaded_at FROM export_job WHERE id = $1`, [id]);
    expect(rows[0]).toEqual({ status: 'downloading', loaded_at: null });
    await service.start();

    await expectDelivered(id);
  });

  it('repeats a table merge cut by SIGKILL: the table gets the export exactly once, the topic at least once', async () => {
    await removeFromSandbox(sandbox.url, ['C-1', 'C-2', 'C-3']);
    const id = await startExport();

    await killWhen(id, 'the file to be staged', `loaded_at IS NOT NULL`);
    const { rows } = await db.query(`SELECT status, table_done_at FROM export_job WHERE id = $1`, [id]);
    expect(rows[0]).toEqual({ status: 'downloading', table_done_at: null });
    await service.start();

    await expectDelivered(id);
    const { latest } = await topicState(exportTopic);
    const { rows: removed } = await db.query(`SELECT count(*)::int AS n FROM caac_contact WHERE fields->>'customer_id' IN ('C-1', 'C-2', 'C-3')`);
    expect(removed[0].n).toBe(0);
    expect([...latest.values()].filter((value) => value === null)).toHaveLength(3);
  });
});
