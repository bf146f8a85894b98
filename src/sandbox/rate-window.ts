export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number };

/**
 * The Profile API's rolling rate window for one api key: at arrival time t, the requests counted
 * are those not answered 429 that arrived in (t - window, t]. A request admitted here counts
 * whatever its final status; a refused one does not.
 */
export class RateWindow {
  // Arrival times of counted requests, oldest first.
  private arrivals: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts the request arriving at `now`, or says how long until one would be admitted. */
  admit(now: number): Admission {
    const cutoff = now - this.windowMs;
    let expired = 0;
    while (expired < this.arrivals.length && this.arrivals[expired]! <= cutoff) expired++;
    if (expired > 0) this.arrivals = this.arrivals.slice(expired);
    if (this.arrivals.length >= this.limit) {
      return { admitted: false, retryAfterMs: this.arrivals[0]! + this.windowMs - now };
    }
    this.arrivals.push(now);
    return { admitted: true };
  }
}
