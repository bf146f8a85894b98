import { CHAOS_MODES } from '../../bench/chaos/chaos-modes';
import { formatResult, runChaos, type ChaosResult } from '../../bench/chaos/chaos-runner';

const SEED = 16;
const RUN_TIMEOUT_MS = 6 * 60_000; // the short run takes about a minute; start-up of its own broker and Postgres included

/**
 * The chaos run's short mode (RELIABILITY.md), so the runner cannot rot: its own Postgres and broker
 * (never the shared ones, which it would restart), two service instances, a few thousand events and a
 * few faults of each kind. Correctness only: no timing is asserted.
 */
describe('the chaos run, short', () => {
  const progress: string[] = [];
  let sut: ChaosResult;

  beforeAll(async () => {
    sut = await runChaos({ ...CHAOS_MODES.short, seed: SEED, log: (line) => progress.push(line) });
    // The table and the JSON line, as `npm run chaos -- --short` prints them, for whoever reads a failure.
    process.stderr.write(`${formatResult(sut)}\n`);
  }, RUN_TIMEOUT_MS);

  it('loses no change, overwrites nothing with an older value and breaks no API rule', () => {
    expect({ lost: sut.lost, stale_overwrites: sut.stale_overwrites, rule_violations: sut.rule_violations, problems: sut.problems }).toEqual({
      lost: 0,
      stale_overwrites: 0,
      rule_violations: 0,
      problems: [],
    });
  });

  it('dead-letters every bad event and every rejected contact, and nothing else', () => {
    expect(sut.dead_letters_expected).toBeGreaterThan(0);
    expect({ found: sut.dead_letters_found, unexpected: sut.dead_letters_unexpected }).toEqual({ found: sut.dead_letters_expected, unexpected: 0 });
  });

  it('ran every kind of fault of the schedule', () => {
    expect(sut.kills).toBe(CHAOS_MODES.short.kills);
    expect(sut.faults).toEqual({
      rejected_rows: 1,
      kill: CHAOS_MODES.short.kills,
      postgres_restart: 1,
      broker_restart: 1,
      export: 1,
      sandbox_5xx: 1,
      sandbox_hang: 1,
      sandbox_drop: 1,
      sandbox_429: 1,
      sandbox_task_failure: 1,
    });
    expect(sut.export_status).toBe('done');
  });
});
