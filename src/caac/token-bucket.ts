import type { Clock } from '../common/clock';

export interface TokenBucketOptions {
  /** Tokens the bucket holds when full: how many calls may go back to back. */
  capacity: number;
  /** One token is added every `intervalMs`. */
  intervalMs: number;
  /**
   * A rolling window on top of the refill: at most `limit` tokens in any `windowMs`. A refill
   * alone allows `capacity + floor(d / intervalMs)` in a span of d, more than a window's limit as
   * soon as the burst is above one; a limit counted per rolling window needs the window itself.
   */
  window?: { limit: number; windowMs: number };
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * A token bucket: up to `capacity` tokens, one more every `intervalMs`, measured from when a token
 * was taken (not from when it was last looked at), so that in any span of `d` ms at most
 * `capacity + floor(d / intervalMs)` tokens are handed out, whoever asks and however often.
 *
 * Kept as the "theoretical arrival time" of the next token (GCRA): a token is available at time t
 * when t >= nextAt - (capacity - 1) * intervalMs; taking one moves nextAt = max(nextAt, t) + intervalMs.
 *
 * With a `window`, every token handed out is also held for `windowMs` (a sliding log of the last
 * `limit` grants), so no rolling window ever holds more than `limit`, whatever the burst.
 *
 * Callers get tokens in the order they asked (FIFO); an aborted caller leaves the queue at once.
 * `drain` empties the bucket and can hold every token back until a time (a 429 with Retry-After).
 * `seed` charges the bucket with tokens taken before it existed (by another process).
 */
export class TokenBucket {
  readonly capacity: number;
  readonly intervalMs: number;
  readonly window: { limit: number; windowMs: number } | undefined;
  private nextAt: number;
  /** With a window: when the last `window.limit` tokens were taken, oldest first. */
  private taken: number[] = [];
  private readonly waiters: Waiter[] = [];
  private pump: AbortController | undefined;

  constructor(
    private readonly clock: Clock,
    options: TokenBucketOptions,
  ) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError(`a token bucket needs an integer capacity >= 1, got ${options.capacity}`);
    if (!(options.intervalMs > 0) || !Number.isFinite(options.intervalMs)) throw new RangeError(`a token bucket needs a positive interval, got ${options.intervalMs}`);
    this.capacity = options.capacity;
    this.intervalMs = options.intervalMs;
    if (options.window) {
      const { limit, windowMs } = options.window;
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a token bucket's window needs an integer limit >= 1, got ${limit}`);
      if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`a token bucket's window needs a positive length, got ${windowMs}`);
      this.window = { limit, windowMs };
    }
    // Full at start: the first `capacity` tokens are available now.
    this.nextAt = clock.now() - this.intervalMs;
  }

  /** Tokens available right now (whole tokens). */
  available(): number {
    if (this.waiters.length > 0) return 0;
    const now = this.clock.now();
    const slack = now - (this.nextAt - (this.capacity - 1) * this.intervalMs);
    const refilled = slack < 0 ? 0 : Math.min(this.capacity, Math.floor(slack / this.intervalMs) + 1);
    if (!this.window) return refilled;
    const held = this.taken.filter((at) => at > now - this.window!.windowMs).length;
    return Math.min(refilled, this.window.limit - held);
  }

  /** Milliseconds until the next caller would get a token; 0 when one is available now. */
  waitMs(): number {
    return Math.max(0, this.earliest() - this.clock.now());
  }

  /**
   * Resolves once the caller holds a token. Callers are served strictly in the order they called;
   * an aborted caller rejects with the signal's reason and takes nothing.
   */
  take(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.waiters.length === 0 && this.waitMs() === 0) {
      this.grant();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(signal?.reason);
          if (this.waiters.length === 0) this.pump?.abort();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      void this.serve();
    });
  }

  /**
   * Takes every token. Without `untilMs` the bucket refills from now at its usual pace (the next
   * token one interval from now). With `untilMs` (epoch ms) no token is handed out before it; the
   * next one is available exactly then and the bucket refills from there. Never makes a token
   * available sooner than it already would be.
   */
  drain(untilMs?: number): void {
    const firstAt = untilMs ?? this.clock.now() + this.intervalMs;
    this.nextAt = Math.max(this.nextAt, firstAt + (this.capacity - 1) * this.intervalMs);
  }

  /**
   * Charges the bucket with tokens taken `agesMs` ago (by a previous holder of the same limit), as
   * if this bucket had handed them out: the refill counts from the newest, and with a window each
   * holds its place until it is `windowMs` old. Ages in the future count as now. Never makes a
   * token available sooner than it already would be.
   */
  seed(agesMs: readonly number[]): void {
    const now = this.clock.now();
    const times = agesMs.map((age) => now - Math.max(0, age)).sort((a, b) => a - b);
    // The refill as it stood after the previous holder's last take, from an empty history.
    let nextAt = Number.NEGATIVE_INFINITY;
    for (const at of times) {
      nextAt = Math.max(nextAt, at) + this.intervalMs;
      this.hold(at);
    }
    this.nextAt = Math.max(this.nextAt, nextAt);
  }

  private earliest(): number {
    const refill = this.nextAt - (this.capacity - 1) * this.intervalMs;
    if (!this.window || this.taken.length < this.window.limit) return refill;
    // The oldest of the last `limit` grants must have left the window first.
    return Math.max(refill, this.taken[this.taken.length - this.window.limit]! + this.window.windowMs);
  }

  private grant(): void {
    const now = this.clock.now();
    this.nextAt = Math.max(this.nextAt, now) + this.intervalMs;
    this.hold(now);
  }

  /** Keeps a token taken at `at` in the window's log (only the last `limit` matter). */
  private hold(at: number): void {
    if (!this.window) return;
    this.taken.push(at);
    this.taken.sort((a, b) => a - b);
    if (this.taken.length > this.window.limit) this.taken = this.taken.slice(-this.window.limit);
  }

  /** Hands tokens to waiters in order, sleeping until the next one is due. One loop at a time. */
  private async serve(): Promise<void> {
    if (this.pump) return;
    const pump = new AbortController();
    this.pump = pump;
    try {
      while (this.waiters.length > 0 && !pump.signal.aborted) {
        const wait = this.waitMs();
        if (wait > 0) {
          // Re-checked after the sleep: a drain meanwhile may have pushed the next token later.
          await this.clock.sleep(wait, pump.signal).catch(() => undefined);
          continue;
        }
        const waiter = this.waiters.shift()!;
        waiter.signal?.removeEventListener('abort', waiter.onAbort);
        this.grant();
        waiter.resolve();
      }
    } finally {
      this.pump = undefined;
      // A caller may have queued after the last abort stopped this loop.
      if (this.waiters.length > 0) void this.serve();
    }
  }
}
