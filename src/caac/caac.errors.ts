import { truncate } from '../common/truncate';

/**
 * How a Profile API call failed, decided once at the client's boundary. The rest of the service
 * decides on `code`, never on a status number or a message.
 *
 * - `busy`: 409, or a 429 whose detail says another import/export is pending or running.
 * - `rate_limited`: 429 (with `retryAfterMs` when the answer had `Retry-After`).
 * - `transient`: 5xx, 408, a timeout or connection failure where nothing can have had an effect,
 *   an answer that is not JSON.
 * - `permanent`: the request itself is wrong (400, 404, 410, 413, 422, other 4xx, a body that
 *   does not match the contract); sending it again gets the same answer.
 * - `auth`: 401, 403; the api key is wrong or lacks rights.
 * - `outcome_unknown`: an import may have been accepted without us seeing the answer.
 * - `circuit_open`: not sent; the breaker is open after repeated failures.
 */
export type CaacErrorCode = 'busy' | 'rate_limited' | 'transient' | 'permanent' | 'auth' | 'outcome_unknown' | 'circuit_open';

/** Finer reasons within a code, for callers that need them. */
export type CaacErrorReason =
  /** 410: an export download past its `expires_at`. */
  | 'expired'
  /** 413: the request body is larger than the server (or a proxy on the way) takes. */
  | 'too_large'
  /** A request refused before sending: it breaks a limit of the API (a programming error). */
  | 'refused_locally'
  /** A 2xx answer whose body does not match the contract. */
  | 'malformed_response';

/** Longest server `detail` kept on an error: enough to act on, bounded for logs and dead letters. */
export const DETAIL_MAX_CHARS = 500;

export interface CaacErrorInit {
  method?: string;
  path?: string;
  status?: number;
  detail?: string;
  retryAfterMs?: number;
  reason?: CaacErrorReason;
}

/**
 * A classified Profile API failure. Carries method, path (never the query, which may hold a
 * download signature), status and the server's detail; never the api key, headers or the request.
 */
export class CaacError extends Error {
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly retryAfterMs?: number;
  readonly reason?: CaacErrorReason;

  constructor(
    readonly code: CaacErrorCode,
    message: string,
    init: CaacErrorInit = {},
  ) {
    super(message);
    this.name = 'CaacError';
    if (init.method !== undefined) this.method = init.method;
    if (init.path !== undefined) this.path = init.path;
    if (init.status !== undefined) this.status = init.status;
    if (init.detail !== undefined && init.detail !== '') this.detail = init.detail;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.reason !== undefined) this.reason = init.reason;
  }

  /** Worth another attempt by the client itself. */
  get retryable(): boolean {
    return isRetryable(this.code);
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, method: this.method, path: this.path, status: this.status, detail: this.detail, retryAfterMs: this.retryAfterMs, reason: this.reason };
  }
}

/** Only these are retried by the client: nothing can have happened, and later may go through. */
export function isRetryable(code: CaacErrorCode): boolean {
  return code === 'transient' || code === 'busy' || code === 'rate_limited';
}

/** Only these count against the circuit breaker: CAAC (or the way to it) is failing. */
export function countsAgainstBreaker(error: unknown): boolean {
  return error instanceof CaacError && (error.code === 'transient' || error.code === 'outcome_unknown');
}

/**
 * What is kept of one FastAPI validation issue (`{type, loc, msg, input, ctx, url}`): where and
 * what. `input` is the refused value itself (an e-mail address, a phone number: personal data),
 * and the detail goes into logs, `last_error` and dead-letter headers; `ctx` may quote it too.
 */
const DETAIL_ISSUE_FIELDS = ['loc', 'msg', 'type'] as const;

function withoutInput(detail: unknown): unknown {
  if (Array.isArray(detail)) return detail.map(withoutInput);
  if (detail === null || typeof detail !== 'object') return detail;
  const issue = detail as Record<string, unknown>;
  if (DETAIL_ISSUE_FIELDS.some((field) => field in issue)) {
    return Object.fromEntries(DETAIL_ISSUE_FIELDS.filter((field) => field in issue).map((field) => [field, issue[field]]));
  }
  return Object.fromEntries(Object.entries(issue).filter(([key]) => key !== 'input').map(([key, value]) => [key, withoutInput(value)]));
}

/** The server's `detail` (FastAPI style, a string or a list of issues) as one bounded line, without the values it refused. */
export function describeDetail(body: unknown): string {
  if (body === undefined || body === null || body === '') return '';
  const detail = typeof body === 'object' && 'detail' in body ? (body as { detail: unknown }).detail : body;
  const text = (typeof detail === 'string' ? detail : JSON.stringify(withoutInput(detail)) ?? '').replace(/\s+/g, ' ').trim();
  return truncate(text, DETAIL_MAX_CHARS);
}

/**
 * Parses `Retry-After` (delay-seconds or an HTTP date) into milliseconds from `now`; anything else
 * is ignored. TRICKY: Date.parse reads "-1" or "+5" as dates in 2001, so only a value starting
 * with a day name is read as a date.
 */
export function parseRetryAfter(header: string | null | undefined, now: number): number | undefined {
  if (header === null || header === undefined || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

// Some deployments answer 429 rather than 409 while another import runs; their detail says so.
const BUSY_DETAIL = /pending|processing|running|in progress|another (import|export)/i;

/** Maps an HTTP answer that is not a success into a typed error. */
export function classifyResponse(method: string, path: string, status: number, body: unknown, retryAfterMs?: number): CaacError {
  const detail = describeDetail(body);
  const message = `${method} ${path} -> ${status}${detail ? `: ${detail}` : ''}`;
  const init: CaacErrorInit = { method, path, status, detail };
  if (status === 401 || status === 403) return new CaacError('auth', message, init);
  if (status === 409) return new CaacError('busy', message, { ...init, retryAfterMs });
  if (status === 429) return new CaacError(BUSY_DETAIL.test(detail) ? 'busy' : 'rate_limited', message, { ...init, retryAfterMs });
  if (status === 410) return new CaacError('permanent', message, { ...init, reason: 'expired' });
  if (status === 413) return new CaacError('permanent', message, { ...init, reason: 'too_large' });
  if (status === 408 || status >= 500) return new CaacError('transient', message, { ...init, retryAfterMs });
  return new CaacError('permanent', message, init);
}

/** Error codes of fetch's network failures (its `cause.code`) that mean no connection was made. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** The network error's code, looking through fetch's `TypeError('fetch failed')` wrapper. */
export function networkErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | undefined)?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code ?? (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'unknown';
}

/**
 * Classifies a request that got no answer. A connection that was never made is `transient`; a
 * timeout or a connection lost after a request with a side effect (an import POST) may have been
 * sent is `outcome_unknown`. TRICKY: fetch does not say whether the request had left, so for a
 * side-effect request every failure other than "never connected" counts as possibly received.
 */
export function classifyNetworkFailure(
  method: string,
  path: string,
  failure: { timedOut: boolean; timeoutMs: number; error: unknown },
  sideEffect: boolean,
): CaacError {
  const cause = networkErrorCode(failure.error);
  const connected = !NOT_CONNECTED.has(cause);
  const what = failure.timedOut ? `no answer within ${failure.timeoutMs} ms` : `connection failed (${cause})`;
  const code = sideEffect && connected ? 'outcome_unknown' : 'transient';
  return new CaacError(code, `${method} ${path}: ${what}`, { method, path });
}
