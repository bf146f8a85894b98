import { CaacClient, type CaacClientOptions } from '../../src/caac/caac.client';
import { CaacError } from '../../src/caac/caac.errors';
import type { ImportKey, ImportTask } from '../../src/caac/caac.types';
import { systemClock } from '../../src/common/clock';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import type { SandboxConfig } from '../../src/sandbox/sandbox.config';
import { sandboxLog, setFaults } from '../support/sandbox-client';
import { memoryLogger, rejection } from './caac-test-server';

const API_KEY = 'contract-key-7d1e0b';
/** Scaled API window: 15 imports per 3 s, so pacing costs ~250 ms an import, not 4 s. */
const WINDOW_MS = 3_000;
const POLL_MS = 25;
const POLL_LIMIT_MS = 10_000;

const sandboxSettings: Partial<SandboxConfig> = {
  port: 0,
  testApi: true,
  apiKeys: [API_KEY],
  rateWindowMs: WINDOW_MS,
  ratePerWindow: 15,
  taskMinMs: 50,
  taskMsPerRow: 0,
  taskPendingMs: 10,
  seed: 7,
  logLevel: 'silent',
};

function optionsFor(sandbox: RunningSandbox, overrides: Partial<CaacClientOptions> = {}): CaacClientOptions {
  return {
    baseUrl: sandbox.url,
    apiKey: API_KEY,
    importRate: { requests: 15, windowMs: WINDOW_MS, burst: 1 },
    statusRate: { requests: 100, windowMs: 1_000, burst: 10 },
    requestTimeoutMs: 2_000,
    retry: { maxAttempts: 1, baseDelayMs: 50, maxDelayMs: 500 },
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000, resetTimeoutMs: 60_000, rollingCountTimeoutMs: 10_000 },
    ...overrides,
  };
}

async function untilDone<T extends { status: string }>(read: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + POLL_LIMIT_MS;
  for (;;) {
    const task = await read();
    if (task.status === 'done') return task;
    if (Date.now() > deadline) throw new Error(`task not done within ${POLL_LIMIT_MS} ms`);
    await systemClock.sleep(POLL_MS);
  }
}

const customers = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ customer_id: `C-${from + i}`, display_name: `Name ${from + i}` }));

describe(`${CaacClient.name} against the sandbox`, () => {
  let sandbox: RunningSandbox;
  const clients: CaacClient[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox(sandboxSettings);
  });

  afterAll(async () => {
    await sandbox.close();
  });

  beforeEach(async () => {
    await fetch(`${sandbox.url}/__sandbox/reset`, { method: 'POST' });
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  function aSut(overrides: Partial<CaacClientOptions> = {}, on: RunningSandbox = sandbox): CaacClient {
    const client = new CaacClient(optionsFor(on, overrides), systemClock, memoryLogger().logger);
    clients.push(client);
    return client;
  }

  describe('endpoints', () => {
    it('imports, then reads the task until it is done with its counts', async () => {
      const sut = aSut();

      const { taskId } = await sut.importProfiles('customer_id', customers(3));
      const task = await untilDone(() => sut.getImportTask(taskId));

      expect(task).toEqual<ImportTask>({
        taskId,
        status: 'done',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        result: { success: true, totalNum: 3, createdNum: 3, updatedNum: 0, failedNum: 0 },
      });
    });

    it('reports rows CAAC rejected in the task result', async () => {
      const sut = aSut();
      await setFaults(sandbox.url, { row_rules: [{ field: 'display_name', equals: 'Name 1', reason: 'blocked name' }] });

      const { taskId } = await sut.importProfiles('customer_id', customers(2));
      const task = await untilDone(() => sut.getImportTask(taskId));

      expect(task.result).toMatchObject({ totalNum: 2, failedNum: 1, errors: [{ index: 1, key: 'C-1', field: 'display_name', reason: 'blocked name' }] });
    });

    it('starts an export, lists it, and streams its CSV', async () => {
      const sut = aSut();
      const imported = await sut.importProfiles('customer_id', customers(2));
      await untilDone(() => sut.getImportTask(imported.taskId));

      const { taskId } = await sut.startExport(['customer_id', 'display_name']);
      const task = await untilDone(() => sut.getExportTask(taskId));
      const list = await sut.listExports();
      let csv = '';
      for await (const chunk of await sut.downloadExport(task.result!.downloadUrl)) csv += String(chunk);

      expect(task.result).toMatchObject({ rowCount: 2, downloadUrl: expect.stringContaining('/files/exports/') });
      expect(list.map((e) => e.taskId)).toEqual([taskId]);
      expect(csv.trim().split(/\r?\n/)).toEqual(['customer_id,display_name', 'C-0,Name 0', 'C-1,Name 1']);
    });

    it('a download after expires_at is permanent with reason expired', async () => {
      const shortLived = await startSandbox({ ...sandboxSettings, exportTtlMs: 100 });
      try {
        const sut = aSut({}, shortLived);
        const { taskId } = await sut.startExport();
        const task = await untilDone(() => sut.getExportTask(taskId));
        await systemClock.sleep(150);

        const error = await rejection(sut.downloadExport(task.result!.downloadUrl));

        expect(error).toBeInstanceOf(CaacError);
        expect(error).toMatchObject({ code: 'permanent', status: 410, reason: 'expired' });
      } finally {
        await shortLived.close();
      }
    });
  });

  describe('errors', () => {
    it('a wrong api key is auth (401)', async () => {
      const sut = aSut({ apiKey: 'not-a-key' });

      await expect(sut.importProfiles('customer_id', customers(1))).rejects.toMatchObject({ code: 'auth', status: 401 });
      await expect(sut.getImportTask('x')).rejects.toMatchObject({ code: 'auth', status: 401 });
    });

    it('an import while another runs is busy (409)', async () => {
      const sut = aSut();
      await setFaults(sandbox.url, { task_duration_ms: 2_000 });
      await sut.importProfiles('customer_id', customers(1));

      await expect(sut.importProfiles('customer_id', customers(1, 1))).rejects.toMatchObject({ code: 'busy', status: 409 });
    });

    it('a 429 carries Retry-After when the server sends it, and holds imports back until then', async () => {
      const sut = aSut();
      await setFaults(sandbox.url, { storm_429: { rate: 1, until_ms: 1_500 } });

      const error = await rejection(sut.importProfiles('customer_id', customers(1)));

      expect(error).toMatchObject({ code: 'rate_limited', status: 429, retryAfterMs: 2_000 });
      expect(sut.importWaitMs()).toBeGreaterThan(1_900);
    });

    it('a 429 without Retry-After is rate_limited and pauses imports for an interval', async () => {
      const bare = await startSandbox({ ...sandboxSettings, retryAfter: false });
      try {
        const sut = aSut({}, bare);
        await setFaults(bare.url, { storm_429: { rate: 1, until_ms: 1_500 } });

        const error = await rejection(sut.importProfiles('customer_id', customers(1)));

        expect(error).toMatchObject({ code: 'rate_limited', status: 429 });
        expect(error.retryAfterMs).toBeUndefined();
        expect(sut.importWaitMs()).toBeGreaterThan(sut.importIntervalMs - 50);
      } finally {
        await bare.close();
      }
    });

    it('a request the API refuses as invalid is permanent (422) with the server detail', async () => {
      const sut = aSut();

      const error = await rejection(sut.importProfiles('nickname' as ImportKey, customers(1)));

      expect(error).toMatchObject({ code: 'permanent', status: 422 });
      expect(error.message).toMatch(/^POST \/cdh\/v1\/member\/import -> 422: .*import_key.*must be one of/);
    });

    it('a body over the size limit is permanent (413)', async () => {
      const small = await startSandbox({ ...sandboxSettings, maxBodyBytes: 1_000 });
      try {
        const sut = aSut({}, small);

        await expect(sut.importProfiles('customer_id', customers(100))).rejects.toMatchObject({ code: 'permanent', status: 413 });
      } finally {
        await small.close();
      }
    });

    it('a 5xx is transient, and retried until it goes through', async () => {
      const sut = aSut({ retry: { maxAttempts: 1, baseDelayMs: 20, maxDelayMs: 100 } });
      await setFaults(sandbox.url, { error_rate: { import_status: 1 } });
      const { taskId } = await sut.importProfiles('customer_id', customers(1));

      await expect(sut.getImportTask(taskId)).rejects.toMatchObject({ code: 'transient', status: expect.any(Number) });

      await setFaults(sandbox.url, { error_rate: { import_status: 0.5 }, seed: 3 });
      const retrying = aSut({ retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 100 } });
      await expect(untilDone(() => retrying.getImportTask(taskId))).resolves.toMatchObject({ taskId, status: 'done' });
    });

    it('a hung task read times out as transient; a hung import as outcome_unknown', async () => {
      const sut = aSut({ requestTimeoutMs: 200 });
      await setFaults(sandbox.url, { hang_rate: { import_status: 1, import: 1 } });

      await expect(sut.getImportTask('t-1')).rejects.toMatchObject({ code: 'transient', message: 'GET /cdh/v1/member/import/t-1: no answer within 200 ms' });
      await expect(sut.importProfiles('customer_id', customers(1))).rejects.toMatchObject({ code: 'outcome_unknown' });
    });

    it('an import accepted but whose answer is dropped is outcome_unknown, and not sent twice', async () => {
      const sut = aSut({ retry: { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 100 } });
      await setFaults(sandbox.url, { drop_after_accept_rate: 1 });

      await expect(sut.importProfiles('customer_id', customers(1))).rejects.toMatchObject({ code: 'outcome_unknown' });

      const log = await sandboxLog(sandbox.url);
      expect(log.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
      expect(log.tasks).toEqual([expect.objectContaining({ kind: 'import', rows: 1 })]);
    });

    it('the breaker opens on repeated 5xx, fails fast, and closes once CAAC recovers', async () => {
      const sut = aSut({ breaker: { errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeoutMs: 300, rollingCountTimeoutMs: 10_000 } });
      const states: string[] = [];
      sut.on('breaker', (state) => states.push(state));
      await setFaults(sandbox.url, { error_rate: { import_status: 1 } });

      for (let i = 0; i < 3; i++) await expect(sut.getImportTask('t-1')).rejects.toMatchObject({ code: 'transient' });
      const sentBefore = (await sandboxLog(sandbox.url)).requests.length;
      await expect(sut.getImportTask('t-1')).rejects.toMatchObject({ code: 'circuit_open' });
      expect((await sandboxLog(sandbox.url)).requests).toHaveLength(sentBefore);
      expect(sut.breakerState()).toBe('open');

      await setFaults(sandbox.url, {});
      await systemClock.sleep(400);
      const { taskId } = await sut.importProfiles('customer_id', customers(1));

      expect(taskId).toEqual(expect.any(String));
      expect(sut.breakerState()).toBe('closed');
      expect(states).toEqual(['open', 'half_open', 'closed']);
    });
  });
});
