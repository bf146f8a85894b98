import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { sandboxLog } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';
import { seedSandbox } from './export-fixtures';

describe('scheduled exports (EXPORT_SCHEDULE)', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 100, taskPendingMs: 20, logLevel: 'silent' });
    const database = await migratedDatabase('export_schedule');
    drop = database.drop;
    db = database.client;
    const source = uniqueName('export-schedule.changes');
    await createTopics([{ topic: source }]);
    await seedSandbox(sandbox.url, [{ customer_id: 'C-1', city: 'Taipei' }]);
    sut = await startService(
      // Every second (cron with seconds), so the test sees a few ticks; a tick while one runs is skipped.
      testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${source}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('export-schedule'), CAAC_BASE_URL: sandbox.url, EXPORT_POLL_MS: '20', EXPORT_SCHEDULE: '* * * * * *' }),
    );
  });

  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('starts exports on the schedule without a request, one at a time', async () => {
    const done = await waitFor(
      'two scheduled exports done',
      async () => {
        const { rows } = await db.query(`SELECT id::text AS id FROM export_job WHERE status = 'done' ORDER BY id`);
        return rows.length >= 2 ? rows : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );

    expect(done.length).toBeGreaterThanOrEqual(2);
    const { rows } = await db.query(`SELECT contact_id, fields FROM caac_contact`);
    expect(rows).toEqual([{ contact_id: expect.any(String), fields: { customer_id: 'C-1', city: 'Taipei' } }]);
    const tasks = (await sandboxLog(sandbox.url)).tasks.filter((task) => task.kind === 'export');
    for (let i = 1; i < tasks.length; i++) expect(Date.parse(tasks[i]!.accepted_at)).toBeGreaterThanOrEqual(Date.parse(tasks[i - 1]!.finished_at));
  });
});
