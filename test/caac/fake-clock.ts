import type { Clock } from '../../src/common/clock';

interface Sleeper {
  at: number;
  order: number;
  resolve: () => void;
}

/** Lets every pending promise callback and the code it resumes run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A Clock whose time moves only when a test advances it; sleepers wake at their exact due time, in
 * order, each one's continuation running before the next wakes.
 */
export class FakeClock implements Clock {
  private time: number;
  private sleepers: Sleeper[] = [];
  private sleepsStarted = 0;

  constructor(start = Date.parse('2026-11-28T10:00:00.000Z')) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const sleeper: Sleeper = {
        at: this.time + Math.max(0, ms),
        order: this.sleepsStarted++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((other) => other !== sleeper);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });
  }

  /** How many sleeps are waiting for time to pass. */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  /** Moves time forward by `ms`, waking every sleeper due on the way at its own time. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    for (;;) {
      const due = this.sleepers.filter((sleeper) => sleeper.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.sleepers = this.sleepers.filter((sleeper) => sleeper !== due);
      this.time = Math.max(this.time, due.at);
      due.resolve();
      await settle();
    }
    this.time = end;
    await settle();
  }
}
