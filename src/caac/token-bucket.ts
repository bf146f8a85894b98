import type { Clock } from '../common/clock';

/**
 * A token bucket: up to `capacity` tokens, one more every `intervalMs`. Callers take tokens in
 * arrival order (FIFO), so no caller starves. `drain` empties it until a given time, for a 429.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;
  private blockedUntil = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly clock: Clock,
    readonly capacity: number,
    readonly intervalMs: number,
  ) {
    if (capacity < 1 || intervalMs <= 0) throw new Error('a token bucket needs capacity >= 1 and a positive interval');
    this.tokens = capacity;
    this.refilledAt = clock.now();
  }

  /** Resolves when the caller holds a token; callers are served in the order they asked. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.waitForToken(signal));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Milliseconds until a token would be available, 0 if one is now. */
  waitMs(): number {
    this.refill();
    const now = this.clock.now();
    if (now < this.blockedUntil) return this.blockedUntil - now;
    if (this.tokens >= 1) return 0;
    return this.refilledAt + this.intervalMs - now;
  }

  /** Empties the bucket; no token is handed out before `untilMs` (epoch ms). */
  drain(untilMs = this.clock.now()): void {
    this.refill();
    this.tokens = 0;
    this.blockedUntil = Math.max(this.blockedUntil, untilMs);
    // Refill counts from the end of the block, so the pace resumes from there.
    this.refilledAt = Math.max(this.refilledAt, this.blockedUntil);
  }

  private async waitForToken(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const wait = this.waitMs();
      if (wait <= 0) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(wait, signal);
    }
  }

  private refill(): void {
    const now = this.clock.now();
    if (now <= this.refilledAt) return;
    const earned = Math.floor((now - this.refilledAt) / this.intervalMs);
    if (earned <= 0) return;
    this.tokens = Math.min(this.capacity, this.tokens + earned);
    this.refilledAt = this.tokens >= this.capacity ? now : this.refilledAt + earned * this.intervalMs;
  }
}
