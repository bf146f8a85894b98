import { CaacClient } from '../../src/caac/caac.client';
import { CaacError } from '../../src/caac/caac.errors';
import type { ImportRow } from '../../src/caac/caac.types';
import { systemClock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { apiRuleViolations, sandboxContacts, sandboxLog, setFaults } from '../support/sandbox-client';

const API_KEY = 'caac-stress-key';
const WINDOW_MS = 3_000; // the API's minute, scaled by 1/20
const PER_WINDOW = 15;
const CALLERS = 8;
const BATCHES_PER_CALLER = 3;
const CALLER_DEADLINE_MS = 35_000;
const BASE_FAULTS = { error_rate: { import: 0.2 }, hang_rate: { import: 0.1 }, drop_after_accept_rate: 0.05, seed: 2026 };

/** A caller's batch: 20 to 150 rows, so that tasks take 50 to 150 ms. */
function aBatch(caller: number, batch: number): ImportRow[] {
  const size = 20 + ((caller * 37 + batch * 53) % 131);
  return Array.from({ length: size }, (_, i) => ({
    customer_id: `S-${caller}-${batch}-${i}`,
    display_name: `caller ${caller} batch ${batch} row ${i}`,
    cl_custom_batch: batch,
  }));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(`${CaacClient.name} under load and faults`, () => {
  let sandbox: RunningSandbox;
  let sut: CaacClient;

  beforeAll(async () => {
    sandbox = await startSandbox({
      port: 0,
      testApi: true,
      apiKeys: [API_KEY],
      ratePerWindow: PER_WINDOW,
      rateWindowMs: WINDOW_MS,
      taskMinMs: 50,
      taskMsPerRow: 1,
      taskPendingMs: 20,
      seed: 9,
      logLevel: 'silent',
    });
    sut = new CaacClient(
      {
        baseUrl: sandbox.url,
        apiKey: API_KEY,
        importRate: { requests: PER_WINDOW, windowMs: WINDOW_MS },
        statusRate: { requests: 200, windowMs: 1_000 },
        requestTimeoutMs: 400,
        retry: { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 800 },
        breaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 500, rollingCountTimeoutMs: 5_000 },
      },
      systemClock,
      createLogger({ level: 'silent' }),
    );
  });
  afterAll(async () => {
    sut.close();
    await sandbox.close();
  });

  /**
   * Imports `rows` until CAAC has applied them all. On `outcome_unknown` the same rows go again
   * later, as the client's contract asks; every other retryable failure is waited out too.
   */
  async function importUntilApplied(rows: ImportRow[], outcomes: string[]): Promise<void> {
    const deadline = Date.now() + CALLER_DEADLINE_MS;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`rows ${String(rows[0]!.customer_id)}… not applied within ${CALLER_DEADLINE_MS} ms`);
      let taskId: string;
      try {
        ({ taskId } = await sut.importProfiles('customer_id', rows));
      } catch (error) {
        if (!(error instanceof CaacError) || error.code === 'permanent' || error.code === 'auth') throw error;
        outcomes.push(error.code);
        await pause(error.code === 'rate_limited' ? Math.min(error.retryAfterMs ?? 500, 3_000) : 300);
        continue;
      }
      outcomes.push('accepted');
      for (;;) {
        if (Date.now() > deadline) throw new Error(`task ${taskId} not done within ${CALLER_DEADLINE_MS} ms`);
        const task = await sut.getImportTask(taskId).catch((error: unknown) => {
          if (error instanceof CaacError && error.code !== 'permanent' && error.code !== 'auth') return undefined;
          throw error;
        });
        if (task?.status === 'done') {
          expect(task.result).toEqual({ success: true, totalNum: rows.length, createdNum: expect.any(Number), updatedNum: expect.any(Number), failedNum: 0 });
          return;
        }
        await pause(40);
      }
    }
  }

  it(`keeps the API rules with ${CALLERS} concurrent callers through 5xx, hangs, dropped answers and a 429 storm, and every row arrives`, async () => {
    await setFaults(sandbox.url, BASE_FAULTS);
    const outcomes: string[] = [];
    const storm = pause(4_000).then(() => setFaults(sandbox.url, { ...BASE_FAULTS, storm_429: { rate: 1, until_ms: 2_500 } }));

    await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        for (let batch = 0; batch < BATCHES_PER_CALLER; batch++) await importUntilApplied(aBatch(caller, batch), outcomes);
      }),
    );
    await storm;

    const log = await sandboxLog(sandbox.url);
    expect(apiRuleViolations(log, { windowMs: WINDOW_MS, perWindow: PER_WINDOW, maxRows: 10_000 })).toEqual([]);
    const statuses = new Set(log.requests.filter((r) => r.method === 'POST').map((r) => r.status));
    expect([...statuses].some((status) => status >= 500)).toBe(true);
    expect(statuses.has(429)).toBe(true);
    expect(statuses.has(0)).toBe(true); // a hang or a dropped answer
    expect(outcomes).toContain('outcome_unknown');
    expect(outcomes.filter((outcome) => outcome === 'accepted').length).toBeGreaterThanOrEqual(CALLERS * BATCHES_PER_CALLER);
    const contacts = await sandboxContacts(sandbox.url);
    const expected = Array.from({ length: CALLERS }, (_, caller) => Array.from({ length: BATCHES_PER_CALLER }, (_, batch) => aBatch(caller, batch))).flat(2);
    expect(contacts.size).toBe(expected.length);
    for (const row of expected) expect(contacts.get(String(row.customer_id))).toEqual(row);
  }, 60_000);
});
