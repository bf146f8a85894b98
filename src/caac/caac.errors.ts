/**
 * How a Profile API call failed, decided once at the client's boundary. The rest of the service
 * decides on `code`, never on a status number or a message.
 */
export type CaacErrorCode = 'busy' | 'rate_limited' | 'transient' | 'permanent' | 'auth' | 'outcome_unknown' | 'circuit_open';

/** Longest server `detail` kept in an error message. */
const DETAIL_MAX_CHARS = 500;

export class CaacError extends Error {
  constructor(
    readonly code: CaacErrorCode,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /** A finer reason where one exists, e.g. `expired` for a download past its `expires_at`. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'CaacError';
  }

  /** Worth another attempt by the client itself. */
  get retryable(): boolean {
    return this.code === 'busy' || this.code === 'rate_limited' || this.code === 'transient';
  }
}

export function describeDetail(body: unknown): string {
  if (body === undefined || body === null || body === '') return '';
  const detail = typeof body === 'object' && body !== null && 'detail' in body ? (body as { detail: unknown }).detail : body;
  const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
  return text.length > DETAIL_MAX_CHARS ? `${text.slice(0, DETAIL_MAX_CHARS - 1)}…` : text;
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Maps an HTTP answer that is not a success into a typed error. */
export function classifyResponse(
  method: string,
  path: string,
  status: number,
  body: unknown,
  retryAfterMs: number | undefined,
): CaacError {
  const detail = describeDetail(body);
  const what = `${method} ${path} -> ${status}${detail ? `: ${detail}` : ''}`;
  if (status === 401 || status === 403) return new CaacError('auth', what, status);
  if (status === 409) return new CaacError('busy', what, status, retryAfterMs);
  if (status === 429) {
    // Some deployments answer 429 for "another import is running"; the detail says which.
    const busy = /pending|running|in progress|another import/i.test(detail);
    return new CaacError(busy ? 'busy' : 'rate_limited', what, status, retryAfterMs);
  }
  if (status === 410) return new CaacError('permanent', what, status, undefined, 'expired');
  if (status >= 500 || status === 408) return new CaacError('transient', what, status, retryAfterMs);
  return new CaacError('permanent', what, status);
}
