import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { sandboxLog } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { ADMIN, jobEnded, seedSandbox } from './export-fixtures';

describe('export of a file that expired before its download', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;

  beforeAll(async () => {
    // Files live 1 ms: every download comes after expires_at.
    sandbox = await startSandbox({ port: 0, testApi: true, exportTtlMs: 1, taskMinMs: 100, taskPendingMs: 20, logLevel: 'silent' });
    const database = await migratedDatabase('export_expiry');
    drop = database.drop;
    db = database.client;
    const source = uniqueName('export-expiry.changes');
    await createTopics([{ topic: source }]);
    sut = await startService(
      testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${source}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('export-expiry'), CAAC_BASE_URL: sandbox.url, EXPORT_POLL_MS: '20' }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
    await seedSandbox(sandbox.url, [{ customer_id: 'C-1' }]);
  });

  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('ends the job as expired, once, with the reason; the table is untouched and the next export may start', async () => {
    const started = await fetch(`${base}/admin/exports`, { method: 'POST', headers: ADMIN });
    const { id } = (await started.json()) as { id: string };

    const job = await jobEnded(base, id);

    expect(job).toMatchObject({ id, status: 'expired', attempts: 0, file_available: false, last_error: expect.stringMatching(/^the export file expired before it was delivered/) });
    await expect(db.query(`SELECT count(*)::int AS n FROM caac_contact`)).resolves.toMatchObject({ rows: [{ n: 0 }] });
    const redeliver = await fetch(`${base}/admin/exports/${id}/redeliver`, { method: 'POST', headers: ADMIN });
    expect(redeliver.status).toBe(409);
    const next = await fetch(`${base}/admin/exports`, { method: 'POST', headers: ADMIN });
    expect(next.status).toBe(202);
    await jobEnded(base, ((await next.json()) as { id: string }).id);
    const downloads = (await sandboxLog(sandbox.url)).requests.filter((request) => request.path.startsWith('/files/'));
    expect(downloads.length).toBeLessThanOrEqual(2); // at most one try per job, never a retry loop
  });
});
