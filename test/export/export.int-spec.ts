import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { setFaults } from '../support/sandbox-client';
import { createTopics, startService, testConfig, TEST_API_KEY, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';
import { CAAC_LIST_CACHE_MS } from '../../src/export/exports.controller';
import { ADMIN, aHardContact, expectedRows, jobEnded, removeFromSandbox, seedSandbox, tableRows, topicState } from './export-fixtures';
import { seededRandom } from '../support/profile-events';

const CONTACTS = 20_000;

describe('export: CAAC contacts into caac_contact and the export topic', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;
  const exportTopic = uniqueName('export.contacts');

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 200, taskMsPerRow: 0.01, taskPendingMs: 50, logLevel: 'silent' });
    const database = await migratedDatabase('export');
    drop = database.drop;
    db = database.client;
    const source = uniqueName('export.changes');
    await createTopics([{ topic: source }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${source}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('export'),
        CAAC_BASE_URL: sandbox.url,
        EXPORT_TOPIC: exportTopic,
        EXPORT_POLL_MS: '50',
        // Small sends, so one export takes many of them.
        EXPORT_KAFKA_BATCH_BYTES: '65536',
      }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
    const random = seededRandom(12);
    const contacts = Array.from({ length: CONTACTS }, (_, i) => aHardContact(i, random));
    // Fields set, then cleared: CAAC drops them, so the export has an empty cell and the table no key.
    for (const contact of contacts.slice(0, 50)) contact.city = 'Taipei';
    await seedSandbox(sandbox.url, contacts);
    await seedSandbox(sandbox.url, contacts.slice(0, 50).map((contact) => ({ customer_id: contact.customer_id, city: null })));
  });

  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  async function startExport(body?: unknown): Promise<Response> {
    return fetch(`${base}/admin/exports`, { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  async function exportDone(): Promise<Record<string, any>> {
    const started = await startExport();
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    const job = await jobEnded(base, id);
    expect(job).toMatchObject({ id, status: 'done', attempts: 0, last_error: null });
    return job;
  }

  it('holds exactly the sandbox contacts, value for value, in the table and on the topic', async () => {
    const expected = await expectedRows(sandbox.url);

    const job = await exportDone();

    const table = await tableRows(db);
    expect(table.size).toBe(CONTACTS);
    for (const [contactId, fields] of expected) expect([contactId, table.get(contactId)?.fields]).toEqual([contactId, fields]);
    expect(new Set([...table.values()].map((row) => row.export_id))).toEqual(new Set([job.id]));
    expect([...table.values()][0]!.exported_at.toISOString()).toBe(new Date(job.requested_at).toISOString());
    const { latest } = await topicState(exportTopic);
    expect(latest.size).toBe(CONTACTS);
    for (const [contactId, fields] of expected) {
      expect(latest.get(contactId)).toEqual({ contact_id: contactId, fields, export_id: job.id, exported_at: new Date(job.requested_at).toISOString() });
    }
    expect(job).toMatchObject({ row_count: CONTACTS, rows_written: CONTACTS, malformed_rows: 0, table: { rows: CONTACTS }, topic: { rows: CONTACTS, tombstones: 0 }, file_available: true });
    expect(JSON.stringify(job)).not.toContain('signature');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`caac_sync_export_rows_total{sink="table"} ${CONTACTS}`);
    expect(metrics).toContain(`caac_sync_export_rows_total{sink="topic"} ${CONTACTS}`);
    expect(metrics).toContain(`caac_sync_exports_total{outcome="done"} 1`);
    expect(metrics).toMatch(/caac_sync_export_newest_complete_age_seconds \d/);
    // The recorded size and SHA-256 are those of the file CAAC serves.
    const task: any = await (await fetch(`${sandbox.url}/cdh/v1/member/export/${job.task_id}`, { headers: { apikey: TEST_API_KEY } })).json();
    const file = Buffer.from(await (await fetch(task.result.download_url)).arrayBuffer());
    expect({ bytes: job.bytes, sha256: job.sha256 }).toEqual({ bytes: file.length, sha256: createHash('sha256').update(file).digest('hex') });
  });

  it('answers 409 to a second export while one runs', async () => {
    await setFaults(sandbox.url, { task_duration_ms: 1_500 });
    try {
      const first = await startExport({ fields: ['customer_id', 'display_name'] });

      const second = await startExport();

      expect(first.status).toBe(202);
      expect(second.status).toBe(409);
      const { id } = (await first.json()) as { id: string };
      await expect(second.json()).resolves.toMatchObject({ message: `an export is already running (job ${id}); wait for it to end` });
      const health = await waitFor('the running export in health details', async () => {
        const body: any = await (await fetch(`${base}/health/ready`)).json();
        return body.details.export.running ? body.details.export : undefined;
      }, { timeoutMs: 10_000, intervalMs: 20 });
      expect(health.running).toMatchObject({ id, status: expect.stringMatching(/^(requested|running|downloading)$/) });
      await expect(jobEnded(base, id)).resolves.toMatchObject({ status: 'done', fields: ['customer_id', 'display_name'] });
    } finally {
      await setFaults(sandbox.url, {});
    }
  });

  it('deletes contacts removed from CAAC since the last export from the table, and tombstones them on the topic', async () => {
    await exportDone(); // the full field set again, after the narrower export above
    const removed = Array.from({ length: 100 }, (_, i) => `C-${i * 97}`);
    const removedIds = (await tableRows(db)).size === CONTACTS ? await idsOf(removed) : [];
    await removeFromSandbox(sandbox.url, removed);
    const expected = await expectedRows(sandbox.url);

    const job = await exportDone();

    const table = await tableRows(db);
    expect(table.size).toBe(CONTACTS - 100);
    for (const id of removedIds) expect(table.has(id)).toBe(false);
    for (const [contactId, fields] of expected) expect([contactId, table.get(contactId)?.fields]).toEqual([contactId, fields]);
    expect(job.topic).toMatchObject({ rows: CONTACTS - 100, tombstones: 100 });
    const { latest } = await topicState(exportTopic);
    expect(removedIds.map((id) => latest.get(id))).toEqual(removedIds.map(() => null));
    expect([...latest.values()].filter((value) => value !== null)).toHaveLength(CONTACTS - 100);
  });

  it('lists local jobs with CAAC\'s view of each, and shows one; a bad id or body is a 400', async () => {
    const list: any = await (await fetch(`${base}/admin/exports`, { headers: ADMIN })).json();

    expect(list.exports.length).toBeGreaterThanOrEqual(4);
    expect(list.exports[0]).toMatchObject({ status: 'done', caac: { task_id: list.exports[0].task_id, status: 'done', row_count: CONTACTS - 100 } });
    expect(list.elsewhere).toEqual([]);
    await expect(fetch(`${base}/admin/exports/abc`, { headers: ADMIN })).resolves.toMatchObject({ status: 400 });
    await expect(fetch(`${base}/admin/exports/99999`, { headers: ADMIN })).resolves.toMatchObject({ status: 404 });
    await expect(startExport({ fields: ['customer_id', 'Not A Field'] })).resolves.toMatchObject({ status: 400 });
    await expect(fetch(`${base}/admin/exports`)).resolves.toMatchObject({ status: 401 });
  });

  it('delivers a done export again on request, leaving the table equal to it', async () => {
    const list: any = await (await fetch(`${base}/admin/exports`, { headers: ADMIN })).json();
    const latest = list.exports[0];
    const expected = await expectedRows(sandbox.url);

    const redelivered = await fetch(`${base}/admin/exports/${latest.id}/redeliver`, { method: 'POST', headers: ADMIN });

    expect(redelivered.status).toBe(202);
    const job = await jobEnded(base, latest.id);
    expect(job).toMatchObject({ status: 'done', sha256: latest.sha256, table: { rows: CONTACTS - 100 }, topic: { rows: CONTACTS - 100, tombstones: 0 } });
    const table = await tableRows(db);
    expect(table.size).toBe(expected.size);
    for (const [contactId, fields] of expected) expect([contactId, table.get(contactId)?.fields]).toEqual([contactId, fields]);
    await expect(fetch(`${base}/admin/exports/99999/redeliver`, { method: 'POST', headers: ADMIN })).resolves.toMatchObject({ status: 404 });
  });

  it('lists an export started elsewhere on the account, from CAAC\'s export list', async () => {
    const direct: any = await (await fetch(`${sandbox.url}/cdh/v1/member/export`, { method: 'POST', headers: { apikey: TEST_API_KEY, 'content-type': 'application/json' }, body: '{}' })).json();

    // CAAC's list is read at most once per CAAC_LIST_CACHE_MS for every caller: the next read has it.
    const list: any = await waitFor(
      'the export started elsewhere to be listed',
      async () => {
        const listed: any = await (await fetch(`${base}/admin/exports`, { headers: ADMIN })).json();
        return listed.elsewhere.length > 0 ? listed : undefined;
      },
      { timeoutMs: CAAC_LIST_CACHE_MS * 3, intervalMs: 250 },
    );

    // Its status depends on how fast the sandbox is; that it is listed, once, does not.
    expect(list.elsewhere).toHaveLength(1);
    expect(list.elsewhere[0]).toMatchObject({ task_id: direct.task_id, status: expect.stringMatching(/^(pending|processing|done)$/), created_at: expect.any(String) });
    expect(list.exports.map((job: { task_id: string }) => job.task_id)).not.toContain(direct.task_id);
  });

  async function idsOf(customerIds: string[]): Promise<string[]> {
    const { rows } = await db.query(`SELECT contact_id FROM caac_contact WHERE fields->>'customer_id' = ANY($1::text[])`, [customerIds]);
    return rows.map((row) => row.contact_id as string);
  }
});
