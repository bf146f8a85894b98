import type { Clock } from '../common/clock';

export interface TokenBucketOptions {
  /** Tokens the bucket holds when full: how many calls may go back to back. */
  capacity: number;
  /** One token is added every `intervalMs`. */
  intervalMs: number;
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
 * Callers get tokens in the order they asked (FIFO); an aborted caller leaves the queue at once.
 * `drain` empties the bucket and can hold every token back until a time (a 429 with Retry-After).
 */
export class TokenBucket {
  readonly capacity: number;
  readonly intervalMs: number;
  private nextAt: number;
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
    // Full at start: the first `capacity` tokens are available now.
    this.nextAt = clock.now() - this.intervalMs;
  }

  /** Tokens available right now (whole tokens). */
  available(): number {
    if (this.waiters.length > 0) return 0;
    const slack = this.clock.now() - (this.nextAt - (this.capacity - 1) * this.intervalMs);
    return slack < 0 ? 0 : Math.min(this.capacity, Math.floor(slack / this.intervalMs) + 1);
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

  private earliest(): number {
    return this.nextAt - (this.capacity - 1) * this.intervalMs;
  }

  private grant(): void {
    this.nextAt = Math.max(this.nextAt, this.clock.now()) + this.intervalMs;
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
