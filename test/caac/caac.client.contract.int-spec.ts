import type { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { CaacClient, type BreakerState, type CaacClientOptions } from '../../src/caac/caac.client';
import { CaacError } from '../../src/caac/caac.errors';
import type { ImportRow, ImportTask } from '../../src/caac/caac.types';
import { systemClock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import type { SandboxConfig } from '../../src/sandbox/sandbox.config';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { sandboxLog, setFaults } from '../support/sandbox-client';
import { waitFor } from '../support/wait-for';

// Distinctive, so that any leak into an error is found by a plain substring search.
const API_KEY = 'caac-contract-KEY-4f1c9e2a7b';
const IMPORT_PATH = '/cdh/v1/member/import';
const INJECTED = [500, 502, 503];

const SANDBOX: Partial<SandboxConfig> = {
  port: 0,
  testApi: true,
  apiKeys: [API_KEY],
  ratePerWindow: 1_000,
  rateWindowMs: 1_000,
  taskMinMs: 400,
  taskMsPerRow: 0,
  taskPendingMs: 200,
  seed: 11,
  logLevel: 'silent',
};

const CLIENT: CaacClientOptions = {
  baseUrl: 'http://127.0.0.1:1',
  apiKey: API_KEY,
  importRate: { requests: 1_000, windowMs: 1_000 },
  statusRate: { requests: 1_000, windowMs: 1_000 },
  requestTimeoutMs: 2_000,
  retry: { maxAttempts: 4, baseDelayMs: 20, maxDelayMs: 200 },
  breaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000, resetTimeoutMs: 300, rollingCountTimeoutMs: 10_000 },
};

let nextCustomer = 0;
function aRow(overrides: ImportRow = {}): ImportRow {
  return { customer_id: `K-${++nextCustomer}`, ...overrides };
}

describe(`${CaacClient.name} contract with the sandbox`, () => {
  let sandbox: RunningSandbox;
  const clients: CaacClient[] = [];
  const thrown: unknown[] = [];

  /** A client of `url`; retries wait the ceiling of their jitter, so that their timing is known. */
  function aClient(url: string, overrides: Partial<CaacClientOptions> = {}): CaacClient {
    const client = new CaacClient({ ...CLIENT, baseUrl: url, ...overrides }, systemClock, createLogger({ level: 'silent' }), { random: () => 0.999 });
    clients.push(client);
    return client;
  }

  /** The CaacError `promise` rejects with (kept, to check that none carries the api key). */
  async function rejection(promise: Promise<unknown>): Promise<CaacError> {
    await expect(promise).rejects.toBeInstanceOf(CaacError);
    const error = (await promise.catch((caught: unknown) => caught)) as CaacError;
    thrown.push(error);
    return error;
  }

  async function withSandbox(overrides: Partial<SandboxConfig>, run: (url: string) => Promise<void>): Promise<void> {
    const own = await startSandbox({ ...SANDBOX, ...overrides });
    try {
      await run(own.url);
    } finally {
      await own.close();
    }
  }

  async function importDone(client: CaacClient, taskId: string): Promise<ImportTask> {
    return waitFor(`import ${taskId} done`, async () => {
      const task = await client.getImportTask(taskId);
      return task.status === 'done' ? task : undefined;
    }, { timeoutMs: 5_000, intervalMs: 20 });
  }

  async function importStatuses(url: string): Promise<number[]> {
    return (await sandboxLog(url)).requests.filter((r) => r.method === 'POST' && r.path === IMPORT_PATH).map((r) => r.status);
  }

  async function text(stream: Readable): Promise<string> {
    let all = '';
    for await (const chunk of stream) all += chunk.toString();
    return all;
  }

  beforeAll(async () => {
    sandbox = await startSandbox(SANDBOX);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await sandbox.close();
  });
  beforeEach(() => fetch(`${sandbox.url}/__sandbox/reset`, { method: 'POST' }));
  afterEach(() => {
    for (const error of thrown.splice(0)) {
      expect(String((error as Error).message)).not.toContain(API_KEY);
      expect(JSON.stringify(error)).not.toContain(API_KEY);
      expect(String((error as Error).stack)).not.toContain(API_KEY);
    }
  });

  describe('contract', () => {
    it('imports rows and reports the task until it is done with its counts', async () => {
      const sut = aClient(sandbox.url);
      const rows = [aRow({ display_name: 'Ada', cl_custom_tier: 'gold' }), aRow({ city: null })];

      const { taskId } = await sut.importProfiles('customer_id', rows);
      const pending = await sut.getImportTask(taskId);
      const done = await importDone(sut, taskId);

      expect(pending).toEqual({ taskId, status: 'pending', createdAt: expect.any(String), updatedAt: pending.createdAt });
      expect(done).toEqual({
        taskId,
        status: 'done',
        createdAt: pending.createdAt,
        updatedAt: expect.any(String),
        result: { success: true, totalNum: 2, createdNum: 2, updatedNum: 0, failedNum: 0 },
      });
      const contact = await fetch(`${sandbox.url}/__sandbox/contacts?key_type=customer_id&key=${rows[0]!.customer_id}`);
      await expect(contact.json()).resolves.toEqual({ contact: { contact_id: expect.any(String), ...rows[0] } });
      const { requests } = await sandboxLog(sandbox.url);
      expect(requests.filter((r) => r.method === 'POST')).toEqual([expect.objectContaining({ path: IMPORT_PATH, status: 202, rows: 2, task_id: taskId })]);
    });

    it('reports rejected rows with index, key, field and reason, also a row without its key', async () => {
      const sut = aClient(sandbox.url);
      const good = aRow();
      const { taskId } = await sut.importProfiles('customer_id', [good, { customer_id: 'K-bad', age: 3 }, { display_name: 'no key' }]);

      const done = await importDone(sut, taskId);

      expect(done.result).toEqual({
        success: false,
        totalNum: 3,
        createdNum: 1,
        updatedNum: 0,
        failedNum: 2,
        errors: [
          { index: 1, key: 'K-bad', field: 'age', reason: 'read-only field' },
          { index: 2, field: 'customer_id', reason: 'the import key customer_id is missing' },
        ],
      });
    });

    it('starts an export, follows it, lists it newest first and streams its CSV', async () => {
      const sut = aClient(sandbox.url);
      const contacts = [
        { customer_id: 'E-1', display_name: 'Ada, "the first"', city: 'Taipei' },
        { customer_id: 'E-2', display_name: '林' },
      ];
      await fetch(`${sandbox.url}/__sandbox/contacts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contacts }) });

      const { taskId } = await sut.startExport(['customer_id', 'display_name', 'city']);
      const done = await waitFor('export done', async () => {
        const task = await sut.getExportTask(taskId);
        return task.status === 'done' ? task : undefined;
      }, { timeoutMs: 5_000, intervalMs: 20 });
      const list = await sut.listExports();
      const csv = await text(await sut.downloadExport(done.result!.downloadUrl));

      expect(done).toEqual({
        taskId,
        status: 'done',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        result: { rowCount: 2, downloadUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/files\/exports\/.+\.csv\?signature=[0-9a-f]{32}$/), expiresAt: expect.any(String) },
      });
      expect(list).toEqual([done]);
      expect(parse(csv, { columns: true })).toEqual([
        { contact_id: expect.any(String), customer_id: 'E-1', display_name: 'Ada, "the first"', city: 'Taipei' },
        { contact_id: expect.any(String), customer_id: 'E-2', display_name: '林', city: '' },
      ]);
    });
  });

  describe('errors', () => {
    it('throws auth on 401 without retrying, and without the key it sent', async () => {
      const sut = aClient(sandbox.url, { apiKey: 'wrong-KEY-9d8c7b' });

      const error = await rejection(sut.importProfiles('customer_id', [aRow()]));

      expect(error).toMatchObject({ code: 'auth', status: 401, message: `POST ${IMPORT_PATH} -> 401: Invalid or missing api key (header "apikey")` });
      expect(JSON.stringify(error)).not.toContain('wrong-KEY-9d8c7b');
      await expect(importStatuses(sandbox.url)).resolves.toEqual([401]);
    });

    it('retries 409 while an import runs, and is accepted once it has ended', async () => {
      const sut = aClient(sandbox.url, { retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 } });
      await setFaults(sandbox.url, { task_duration_ms: 300 });
      const first = await sut.importProfiles('customer_id', [aRow()]);

      const second = await sut.importProfiles('customer_id', [aRow()]);

      const log = await sandboxLog(sandbox.url);
      const statuses = await importStatuses(sandbox.url);
      expect(statuses[0]).toBe(202);
      expect(statuses.slice(1, -1).length).toBeGreaterThanOrEqual(1);
      expect(statuses.slice(1, -1)).toEqual(Array(statuses.length - 2).fill(409));
      expect(statuses.at(-1)).toBe(202);
      const [a, b] = log.tasks;
      expect([a!.task_id, b!.task_id]).toEqual([first.taskId, second.taskId]);
      expect(Date.parse(b!.accepted_at)).toBeGreaterThanOrEqual(Date.parse(a!.finished_at));
    });

    it('throws busy when the running import outlasts the retries', async () => {
      const sut = aClient(sandbox.url, { retry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 200 } });
      await setFaults(sandbox.url, { task_duration_ms: 5_000 });
      await sut.importProfiles('customer_id', [aRow()]);

      const error = await rejection(sut.importProfiles('customer_id', [aRow()]));

      expect(error).toMatchObject({ code: 'busy', status: 409 });
      await expect(importStatuses(sandbox.url)).resolves.toEqual([202, 409, 409]);
    });

    it('throws rate_limited on 429 with a Retry-After beyond its own waits, and holds every import until then', async () => {
      await withSandbox({ ratePerWindow: 2, rateWindowMs: 5_000 }, async (url) => {
        const sut = aClient(url);
        await sut.importProfiles('customer_id', [aRow()]);
        await fetch(`${url}${IMPORT_PATH}`, { method: 'POST', headers: { apikey: API_KEY }, body: '{' });

        const error = await rejection(sut.importProfiles('customer_id', [aRow()]));

        expect(error).toMatchObject({ code: 'rate_limited', status: 429, retryAfterMs: 5_000 });
        expect(sut.importWaitMs()).toBeGreaterThan(4_000);
        expect(sut.importWaitMs()).toBeLessThanOrEqual(5_000);
        await expect(importStatuses(url)).resolves.toEqual([202, 400, 429]);
      });
    });

    it('on 429 without Retry-After backs off, drains its bucket, and throws rate_limited after its attempts', async () => {
      await withSandbox({ ratePerWindow: 1, rateWindowMs: 5_000, retryAfter: false }, async (url) => {
        const sut = aClient(url, { retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 200 } });
        await sut.importProfiles('customer_id', [aRow()]);

        const error = await rejection(sut.importProfiles('customer_id', [aRow()]));

        expect(error).toMatchObject({ code: 'rate_limited', status: 429 });
        expect(error.retryAfterMs).toBeUndefined();
        expect(sut.importWaitMs()).toBeGreaterThan(0);
        const log = await sandboxLog(url);
        const times = log.requests.map((r) => Date.parse(r.at));
        expect(log.requests.map((r) => r.status)).toEqual([202, 429, 429, 429]);
        // Each retry waited for the drained bucket: one interval (51 ms), then two; less a little
        // for the arrival times the sandbox sees.
        expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(40);
        expect(times[3]! - times[2]!).toBeGreaterThanOrEqual(90);
      });
    });

    it('throws permanent on 422 and 413 without retrying', async () => {
      await withSandbox({ maxRows: 2, maxBodyBytes: 400 }, async (url) => {
        const sut = aClient(url);

        const tooMany = await rejection(sut.importProfiles('customer_id', [aRow(), aRow(), aRow()]));
        const tooLarge = await rejection(sut.importProfiles('customer_id', [aRow({ display_name: 'x'.repeat(500) })]));

        expect(tooMany).toMatchObject({ code: 'permanent', status: 422, message: expect.stringContaining('at most 2 rows per import, got 3') });
        expect(tooLarge).toMatchObject({ code: 'permanent', status: 413, message: `POST ${IMPORT_PATH} -> 413: the request body is larger than 400 bytes` });
        await expect(importStatuses(url)).resolves.toEqual([422, 413]);
      });
    });

    it('refuses an empty or oversized batch before sending', async () => {
      const sut = aClient(sandbox.url, { maxRows: 2 });

      const empty = await rejection(sut.importProfiles('customer_id', []));
      const over = await rejection(sut.importProfiles('customer_id', [aRow(), aRow(), aRow()]));

      expect([empty.code, empty.reason, over.code, over.reason]).toEqual(['permanent', 'refused_locally', 'permanent', 'refused_locally']);
      await expect(importStatuses(sandbox.url)).resolves.toEqual([]);
    });

    it('retries 5xx as transient and succeeds once CAAC recovers', async () => {
      const sut = aClient(sandbox.url, { retry: { maxAttempts: 8, baseDelayMs: 20, maxDelayMs: 200 } });
      await setFaults(sandbox.url, { error_rate: { import: 1 } });
      const recovery = new Promise((resolve) => setTimeout(resolve, 150)).then(() => setFaults(sandbox.url, {}));

      const { taskId } = await sut.importProfiles('customer_id', [aRow()]);
      await recovery;

      const statuses = await importStatuses(sandbox.url);
      expect(statuses.length).toBeGreaterThanOrEqual(2);
      for (const status of statuses.slice(0, -1)) expect(INJECTED).toContain(status);
      expect(statuses.at(-1)).toBe(202);
      await expect(sandboxLog(sandbox.url)).resolves.toMatchObject({ tasks: [{ task_id: taskId }] });
    });

    it('throws transient after its attempts when 5xx persists', async () => {
      const sut = aClient(sandbox.url, { retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 200 } });
      await setFaults(sandbox.url, { error_rate: { import_status: 1 } });

      const error = await rejection(sut.getImportTask('any'));

      expect(error.code).toBe('transient');
      expect(INJECTED).toContain(error.status);
      await expect(sandboxLog(sandbox.url)).resolves.toMatchObject({ requests: [{ path: `${IMPORT_PATH}/any` }, {}, {}] });
    });

    it('times out a hung status request as transient, retrying it', async () => {
      const sut = aClient(sandbox.url, { requestTimeoutMs: 200, retry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 200 } });
      await setFaults(sandbox.url, { hang_rate: { import_status: 1 } });

      const error = await rejection(sut.getImportTask('any'));

      expect(error).toMatchObject({ code: 'transient', message: `GET ${IMPORT_PATH}/any: no answer within 200 ms` });
      const { requests } = await sandboxLog(sandbox.url);
      expect(requests.map((r) => r.status)).toEqual([0, 0]);
    });

    it('throws outcome_unknown for a hung import and does not retry it', async () => {
      const sut = aClient(sandbox.url, { requestTimeoutMs: 200 });
      await setFaults(sandbox.url, { hang_rate: { import: 1 } });

      const error = await rejection(sut.importProfiles('customer_id', [aRow()]));

      expect(error).toMatchObject({ code: 'outcome_unknown', message: `POST ${IMPORT_PATH}: no answer within 200 ms` });
      await expect(importStatuses(sandbox.url)).resolves.toEqual([0]);
    });

    it('throws outcome_unknown when the connection drops after CAAC accepted, without retrying, and the task runs', async () => {
      const sut = aClient(sandbox.url);
      await setFaults(sandbox.url, { drop_after_accept_rate: 1 });
      const row = aRow();

      const error = await rejection(sut.importProfiles('customer_id', [row]));

      expect(error.code).toBe('outcome_unknown');
      const log = await sandboxLog(sandbox.url);
      expect(log.requests).toEqual([expect.objectContaining({ method: 'POST', path: IMPORT_PATH, status: 0, rows: 1, task_id: log.tasks[0]!.task_id })]);
      await setFaults(sandbox.url, {});
      await expect(importDone(sut, log.tasks[0]!.task_id)).resolves.toMatchObject({ result: { success: true, createdNum: 1 } });
    });

    it('opens the breaker on repeated 5xx, fails fast while open, and closes after recovery', async () => {
      const sut = aClient(sandbox.url, {
        retry: { maxAttempts: 1, baseDelayMs: 20, maxDelayMs: 200 },
        breaker: { errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeoutMs: 300, rollingCountTimeoutMs: 10_000 },
      });
      const states: BreakerState[] = [];
      sut.on('breaker', (state) => states.push(state));
      const { taskId } = await sut.importProfiles('customer_id', [aRow()]);
      await setFaults(sandbox.url, { error_rate: { import_status: 1 } });
      // With the import's success, two failures make three calls, 67 % of them failed.
      for (let i = 0; i < 2; i++) await expect(rejection(sut.getImportTask(taskId))).resolves.toMatchObject({ code: 'transient' });
      const sentWhileFailing = (await sandboxLog(sandbox.url)).requests.length;

      const started = Date.now();
      const open = await rejection(sut.getImportTask(taskId));
      const failedFastInMs = Date.now() - started;

      expect(sut.breakerState()).toBe('open');
      expect(open).toMatchObject({ code: 'circuit_open' });
      expect(failedFastInMs).toBeLessThan(100);
      expect((await sandboxLog(sandbox.url)).requests).toHaveLength(sentWhileFailing);
      await setFaults(sandbox.url, {});
      await waitFor('half open', () => (sut.breakerState() === 'half_open' ? true : undefined), { timeoutMs: 2_000, intervalMs: 20 });
      await expect(sut.getImportTask(taskId)).resolves.toMatchObject({ taskId });
      expect(sut.breakerState()).toBe('closed');
      expect(states).toEqual(['open', 'half_open', 'closed']);
    });

    it('answers 410 on an expired download as permanent with the reason expired', async () => {
      await withSandbox({ exportTtlMs: 50 }, async (url) => {
        const sut = aClient(url);
        const { taskId } = await sut.startExport();
        const done = await waitFor('export done', async () => {
          const task = await sut.getExportTask(taskId);
          return task.status === 'done' ? task : undefined;
        }, { timeoutMs: 5_000, intervalMs: 20 });
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(done.result!.expiresAt) - Date.now()) + 20));

        const error = await rejection(sut.downloadExport(done.result!.downloadUrl));

        expect(error).toMatchObject({ code: 'permanent', status: 410, reason: 'expired' });
        expect(error.message).not.toContain('signature');
      });
    });
  });
});
