import type { INestApplication } from '@nestjs/common';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { runCli } from '../support/cli-process';
import { migratedDatabase } from '../support/database';
import { setFaults } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { ADMIN, jobEnded, removeFromSandbox, seedSandbox } from '../export/export-fixtures';

const CONTACTS = 300;

describe('npm run cli -- export', () => {
  let sandbox: RunningSandbox;
  let drop: () => Promise<void>;
  let service: INestApplication | undefined;
  let env: Record<string, string>;
  let url: string;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 200, taskMsPerRow: 0.01, taskPendingMs: 50, logLevel: 'silent' });
    const database = await migratedDatabase('cli_export');
    drop = database.drop;
    const source = uniqueName('cli-export.changes');
    await createTopics([{ topic: source }]);
    env = { DATABASE_URL: database.url, SOURCE_TOPICS: `${source}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('cli-export'), CAAC_BASE_URL: sandbox.url, EXPORT_POLL_MS: '50' };
    service = await startService(testConfig(env));
    url = (await service.getUrl()).replace('[::1]', '127.0.0.1');
    await seedSandbox(sandbox.url, Array.from({ length: CONTACTS }, (_, i) => ({ customer_id: `X-${i}`, display_name: `Export ${i}` })));
  });

  afterAll(async () => {
    await service?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('starts an export, waits for it and prints the done job', async () => {
    const run = await runCli(['export', '--url', url, '--json', '--timeout-s', '60'], env);

    expect([run.code, run.stderr]).toEqual([0, '']);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ how: 'started', outcome: 'done', job: { status: 'done', row_count: CONTACTS, rows_written: CONTACTS, malformed_rows: 0, last_error: null } });
    await expect(fetch(`${url}/admin/exports/${result.job.id}`, { headers: ADMIN }).then((response) => response.json())).resolves.toMatchObject({ status: 'done', row_count: CONTACTS });
  });

  it('prints one line for a terminal', async () => {
    const run = await runCli(['export', '--url', url, '--fields', 'customer_id,display_name'], env);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^export \\d+ done: ${CONTACTS} rows, \\d+ bytes, sha256 [0-9a-f]{64}, file until \\S+\n$`));
  });

  describe('while another export runs', () => {
    let running: string;

    beforeEach(async () => {
      await setFaults(sandbox.url, { task_duration_ms: 4_000 });
      const started = await fetch(`${url}/admin/exports`, { method: 'POST', headers: ADMIN });
      expect(started.status).toBe(202);
      running = ((await started.json()) as { id: string }).id;
    });

    afterEach(async () => {
      await setFaults(sandbox.url, {});
      await jobEnded(url, running, 60_000);
    });

    it('names the running export and exits 1', async () => {
      const run = await runCli(['export', '--url', url], env);

      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(new RegExp(`^export ${running} is already running \\((requested|running|downloading), requested \\S+\\): wait for it with --attach\n$`));
    });

    it('with --attach waits for the running export instead', async () => {
      const run = await runCli(['export', '--url', url, '--attach', '--json', '--timeout-s', '60'], env);

      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ how: 'attached', outcome: 'done', job: { id: running, status: 'done', row_count: CONTACTS } });
    });

    it('stops waiting after --timeout-s and exits 1; the export goes on', async () => {
      const run = await runCli(['export', '--url', url, '--attach', '--timeout-s', '1'], env);

      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(new RegExp(`^export ${running} still (requested|running|downloading) after 1 s; it goes on in the service`));
      await expect(jobEnded(url, running, 60_000)).resolves.toMatchObject({ status: 'done' });
    });
  });

  it('with --no-wait starts the export and returns at once', async () => {
    const run = await runCli(['export', '--url', url, '--no-wait', '--json'], env);

    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ how: 'started', job: { id: expect.stringMatching(/^\d+$/) } });
    await expect(jobEnded(url, result.job.id, 60_000)).resolves.toMatchObject({ status: 'done', row_count: CONTACTS });
  });

  // Last: it takes contacts out of the sandbox.
  it('exits 1 on an export held for its deletions, and --allow-deletions lets it go on', async () => {
    await expect(runCli(['export', '--url', url, '--timeout-s', '60'], env)).resolves.toMatchObject({ code: 0 });
    const gone = Array.from({ length: CONTACTS * 0.3 }, (_, i) => `X-${i}`);
    await removeFromSandbox(sandbox.url, gone);

    const held = await runCli(['export', '--url', url, '--timeout-s', '60'], env);

    expect(held.code).toBe(1);
    expect(held.stdout).toMatch(/^export \d+ held: it would delete 90 of the 300 contacts of caac_contact \(30\.0 %, more than EXPORT_MAX_DELETE_RATIO 0\.2\); nothing was deleted\. Let it go on with --allow-deletions, or start a newer export\n$/);

    const allowed = await runCli(['export', '--url', url, '--allow-deletions', '--json', '--timeout-s', '60'], env);

    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ how: 'allowed', outcome: 'done', job: { status: 'done', rows_written: CONTACTS - gone.length, deletions: gone.length, table: { rows: CONTACTS - gone.length } } });
  });
});
