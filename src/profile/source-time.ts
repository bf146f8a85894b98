/**
 * The source time of a change (Debezium `source.ts_ms`, or `occurred_at`) decides which value wins
 * for each field (invariant 2), so a wrong one is worse than none: it is checked before a change
 * is staged.
 */

/**
 * 2000-01-01T00:00:00Z. No CRM change this service sees is older; a time before it is a unit
 * mistake (seconds sent as milliseconds reads as January 1970) that would make every change of
 * that producer lose to the values already staged, silently.
 */
export const SOURCE_TIME_MIN_MS = Date.UTC(2000, 0, 1);

export type SourceTimeResult = { ok: true; ts: number } | { ok: false; reason: string };

/**
 * Accepts `ts` (epoch milliseconds) when it is a whole number from SOURCE_TIME_MIN_MS up to
 * `now + maxFutureSkewMs`; else says why not. The upper bound is the hazard that matters: a time
 * in the far future would win every later comparison for its fields forever (no real change could
 * ever replace the value), and a snapshot read with it would lift the partition's snapshot floor
 * so that every later change is stamped after it. Micro- or nanoseconds sent as milliseconds land
 * there too.
 */
export function checkSourceTime(ts: unknown, now: number, maxFutureSkewMs: number): SourceTimeResult {
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return { ok: false, reason: 'is not a number' };
  if (!Number.isSafeInteger(ts)) return { ok: false, reason: `must be a whole number of milliseconds since the epoch, got ${ts}` };
  if (ts < SOURCE_TIME_MIN_MS) {
    return { ok: false, reason: `is ${ts} ms since the epoch, before 2000-01-01 (seconds instead of milliseconds?)` };
  }
  const latest = now + maxFutureSkewMs;
  if (ts > latest) {
    return {
      ok: false,
      reason: `is ${ts} ms since the epoch, more than ${maxFutureSkewMs} ms (MAX_FUTURE_SKEW_MS) ahead of this service's clock (${new Date(now).toISOString()})`,
    };
  }
  return { ok: true, ts };
}
