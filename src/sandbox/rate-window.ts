/**
 * The Profile API's rolling rate window: at arrival time t, the requests counted are those not
 * answered 429 that arrived in (t - window, t].
 */
export class RateWindow {
  private arrivals: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Admits the request (it counts) or returns the milliseconds until one would be admitted. */
  admit(now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.arrivals = this.arrivals.filter((at) => at > now - this.windowMs);
    if (this.arrivals.length >= this.limit) return { ok: false, retryAfterMs: this.arrivals[0]! + this.windowMs - now };
    this.arrivals.push(now);
    return { ok: true };
  }
}
