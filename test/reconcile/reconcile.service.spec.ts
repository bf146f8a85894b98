import type { DataSource } from 'typeorm';
import type { Logger } from '../../src/common/logger';
import type { AppConfig } from '../../src/config/app-config';
import type { ImporterLeader } from '../../src/importer/importer-leader.service';
import type { Metrics } from '../../src/telemetry/metrics';
import { RECONCILE_CHECK_MS, RECONCILE_RETRY_MAX_MS, ReconcileService, reconcileRetryDelayMs } from '../../src/reconcile/reconcile.service';

describe(reconcileRetryDelayMs.name, () => {
  it('backs off from two checks, doubling, to at most five minutes, however many runs failed', () => {
    const sut = [1, 2, 3, 8, 9, 50, 10_000].map(reconcileRetryDelayMs);

    expect(sut).toEqual([2_000, 4_000, 8_000, 256_000, RECONCILE_RETRY_MAX_MS, RECONCILE_RETRY_MAX_MS, RECONCILE_RETRY_MAX_MS]);
  });
});

describe(ReconcileService.name, () => {
  const url = 'postgres://postgres@127.0.0.1:5432/caac';
  const config = { importerEnabled: true, database: { url }, export: { tableEnabled: true, databaseUrl: url } } as unknown as AppConfig;
  const logger = { warn: jest.fn(), info: jest.fn() } as unknown as Logger;
  const leader = { isLeader: () => true } as unknown as ImporterLeader;

  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('tries a failing run again after a growing wait, not at every check', async () => {
    const sut = new ReconcileService(config, logger, {} as DataSource, leader, {} as Metrics);
    const runs: number[] = [];
    jest.spyOn(sut, 'runOnce').mockImplementation(async () => {
      runs.push(Date.now());
      throw new Error('duplicate key value violates unique constraint');
    });

    sut.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(20_000);
    await sut.beforeApplicationShutdown();

    // Failures at 1 s, then 2 s, 4 s and 8 s later (each wait rounded up to the next check).
    expect(runs).toEqual([1, 3, 7, 15].map((n) => n * RECONCILE_CHECK_MS));
  });
});
