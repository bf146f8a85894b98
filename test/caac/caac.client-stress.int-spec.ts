import { CaacClient, PROFILE_API_MAX_ROWS } from '../../src/caac/caac.client';
import { CaacError } from '../../src/caac/caac.errors';
import type { ImportRow } from '../../src/caac/caac.types';
import { systemClock } from '../../src/common/clock';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { apiRuleViolations, sandboxLog, setFaults } from '../support/sandbox-client';
import { memoryLogger, rejection } from './caac-test-server';

const API_KEY = 'stress-key-3b9a4c';
/** The API's 15 imports a minute, scaled to 15 per 3 s so the run takes seconds. */
const WINDOW_MS = 3_000;
const PER_WINDOW = 15;
const CALLERS = 8;
const BATCHES_PER_CALLER = 3;
/** Every caller's work must be done by then; the whole test stays well under 30 s. */
const DEADLINE_MS = 25_000;
const CALLER_PAUSE_MS = 50;
const POLL_MS = 30;

const batch = (caller: number, n: number, size: number): ImportRow[] =>
  Array.from({ length: size }, (_, i) => ({ customer_id: `C-${caller}-${n}-${i}`, display_name: `caller ${caller} batch ${n}` }));

describe(`${CaacClient.name} under load and faults`, () => {
  let sandbox: RunningSandbox;
  let sut: CaacClient;

  beforeAll(async () => {
    // Tasks take 50 ms plus 0.1 ms a row: 50-150 ms for the batches below, 1 s for the full one.
    sandbox = await startSandbox({ port: 0, testApi: true, apiKeys: [API_KEY], rateWindowMs: WINDOW_MS, ratePerWindow: PER_WINDOW, taskMinMs: 50, taskMsPerRow: 0.1, taskPendingMs: 10, seed: 11, logLevel: 'silent' });
    sut = new CaacClient(
      {
        baseUrl: sandbox.url,
        apiKey: API_KEY,
        importRate: { requests: PER_WINDOW, windowMs: WINDOW_MS, burst: 1 },
        statusRate: { requests: 200, windowMs: 1_000, burst: 20 },
        requestTimeoutMs: 300,
        retry: { maxAttempts: 4, baseDelayMs: 50, maxDelayMs: 500 },
        breaker: { errorThresholdPercentage: 80, volumeThreshold: 10, resetTimeoutMs: 200, rollingCountTimeoutMs: 2_000 },
      },
      systemClock,
      memoryLogger().logger,
    );
  });

  afterAll(async () => {
    sut.close();
    await sandbox.close();
  });

  it('keeps the API rules under concurrency, 5xx, hangs, dropped answers and a 429 storm', async () => {
    await setFaults(sandbox.url, {
      error_rate: { import: 0.2, import_status: 0.05 },
      hang_rate: { import: 0.05 },
      drop_after_accept_rate: 0.05,
      storm_429: { rate: 0.5, until_ms: 2_000 },
      seed: 5,
    });
    const deadline = Date.now() + DEADLINE_MS;
    const outcomes = new Map<string, number>();
    sut.on('outcome', ({ endpoint, outcome }) => {
      if (endpoint === 'import') outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    });

    /** Sends one batch until its task is done, as the importer would. */
    async function deliver(rows: ImportRow[]): Promise<void> {
      for (;;) {
        if (Date.now() > deadline) throw new Error('deadline passed');
        let taskId: string;
        try {
          ({ taskId } = await sut.importProfiles('customer_id', rows));
        } catch (error) {
          if (!(error instanceof CaacError) || error.code === 'permanent' || error.code === 'auth') throw error;
          // outcome_unknown: the import may be running; the same rows go again, and CAAC answers
          // busy until it has finished. Busy, rate limits and an open breaker: the same, later.
          await systemClock.sleep(CALLER_PAUSE_MS);
          continue;
        }
        for (;;) {
          if (Date.now() > deadline) throw new Error('deadline passed');
          const task = await sut.getImportTask(taskId).catch(() => undefined);
          if (task?.status === 'done') return;
          await systemClock.sleep(POLL_MS);
        }
      }
    }

    const callers = Array.from({ length: CALLERS }, async (_, caller) => {
      for (let n = 0; n < BATCHES_PER_CALLER; n++) {
        const size = caller === 0 && n === 0 ? PROFILE_API_MAX_ROWS : 1 + ((caller * 7 + n * 13) % 10) * 100;
        await deliver(batch(caller, n, size));
      }
    });
    const oversized = rejection(sut.importProfiles('customer_id', batch(99, 0, PROFILE_API_MAX_ROWS + 1)));
    await Promise.all(callers);

    await expect(oversized).resolves.toMatchObject({ code: 'permanent', reason: 'refused_locally' });
    const log = await sandboxLog(sandbox.url);
    expect(apiRuleViolations(log, { windowMs: WINDOW_MS, perWindow: PER_WINDOW, maxRows: PROFILE_API_MAX_ROWS })).toEqual([]);
    const imports = log.requests.filter((r) => r.method === 'POST' && r.path === '/cdh/v1/member/import');
    const statuses = new Set(imports.map((r) => r.status));
    // The faults were really met: 202s, 429s and 5xx all occurred.
    expect(statuses.has(202)).toBe(true);
    expect(statuses.has(429)).toBe(true);
    expect([500, 502, 503].some((status) => statuses.has(status))).toBe(true);
    expect(log.tasks.filter((t) => t.kind === 'import' && t.success === true).length).toBeGreaterThanOrEqual(CALLERS * BATCHES_PER_CALLER);
    expect(outcomes.get('ok')).toBeGreaterThanOrEqual(CALLERS * BATCHES_PER_CALLER);
  });
});
