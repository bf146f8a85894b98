import type { DataSource } from 'typeorm';
import type { CaacClient } from '../../src/caac/caac.client';
import { createLogger } from '../../src/common/logger';
import type { AppConfig } from '../../src/config/app-config';
import { ImportScheduler } from '../../src/importer/import-scheduler.service';
import { Metrics } from '../../src/telemetry/metrics';
import { FakeClock } from '../caac/fake-clock';

const STALL_MS = 60_000;

/** The scheduler's loop alone: its steps are replaced, so no database is needed. */
function aScheduler(clock: FakeClock): ImportScheduler {
  const config = { caac: { account: 'acme' }, health: { importerStallMs: STALL_MS }, export: { driftPolicy: 'report' } } as AppConfig;
  const sut = new ImportScheduler(config, createLogger({ level: 'silent' }), clock, {} as DataSource, {} as CaacClient, new Metrics());
  jest.spyOn(sut, 'takeOver').mockResolvedValue({ account: 'acme', epoch: '1' } as never);
  return sut;
}

describe(`${ImportScheduler.name} stall watch`, () => {
  it('is not stalled while its loop turns, however long it runs', async () => {
    const clock = new FakeClock();
    const sut = aScheduler(clock);
    jest.spyOn(sut, 'step').mockResolvedValue(false);
    const stop = new AbortController();
    const running = sut.run(stop.signal);

    for (let i = 0; i < 10; i++) await clock.advance(STALL_MS / 2);

    expect(sut.stalledForMs()).toBe(0);
    stop.abort();
    await running;
  });

  it('counts how long a step that never returns is overdue, past the stall limit', async () => {
    const clock = new FakeClock();
    const sut = aScheduler(clock);
    const wedged = new Promise<boolean>(() => undefined);
    jest.spyOn(sut, 'step').mockReturnValue(wedged);
    const stop = new AbortController();
    void sut.run(stop.signal);
    await clock.advance(0);

    await clock.advance(STALL_MS);
    expect(sut.stalledForMs()).toBe(0);

    await clock.advance(60_000);
    // The turn was due after the idle poll (250 ms) plus the stall limit.
    expect(sut.stalledForMs()).toBe(60_000 - 250);
    stop.abort();
  });

  it('is not stalled while it is not running', () => {
    expect(aScheduler(new FakeClock()).stalledForMs()).toBe(0);
  });
});
