import type { ChaosOptions } from './chaos-runner';

export type ChaosMode = 'full' | 'short';

/**
 * The two sizes of the run. Both keep the API's real rules (15 imports a rolling 60 s, 10,000 rows);
 * the short one is small enough for `npm test` and still has every kind of fault.
 */
export const CHAOS_MODES: Record<ChaosMode, Omit<ChaosOptions, 'seed' | 'log'>> = {
  full: {
    events: 200_000,
    contacts: 50_000,
    kills: 22,
    sandboxFaultsEach: 2,
    sandboxFaultHoldMs: 30_000, // at 15 imports a minute, several import requests and many polls
    windowMs: 60_000,
    stepPauseMs: [1_000, 4_000],
    taskMinMs: 1_000, // the sandbox's default: a real backend takes at least a second a task
    convergeTimeoutMs: 20 * 60_000,
  },
  short: {
    events: 3_000,
    contacts: 600,
    kills: 4,
    sandboxFaultsEach: 1,
    sandboxFaultHoldMs: 8_000,
    windowMs: 60_000,
    stepPauseMs: [300, 1_200],
    taskMinMs: 200,
    convergeTimeoutMs: 150_000,
  },
};
