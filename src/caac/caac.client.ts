import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import CircuitBreaker from 'opossum';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { CaacError, classifyNetworkFailure, classifyResponse, countsAgainstBreaker, parseRetryAfter, type CaacErrorCode } from './caac.errors';
import { parseAccepted, parseExportList, parseExportTask, parseImportTask, type Parsed } from './caac.responses';
import type { CaacEndpoint, ExportTask, ImportKey, ImportRow, ImportTask } from './caac.types';
import { TokenBucket } from './token-bucket';

/** Profile API: at most this many profiles in one import request. */
export const PROFILE_API_MAX_ROWS = 10_000;
/** Profile API: a request body over 10 MB is answered 413. */
export const PROFILE_API_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Safety margin of the import bucket: its interval is (windowMs / requests) * (1 + RATIO) + MS.
 * The server counts arrivals, we control sends; arrivals are sends plus a network delay that varies.
 * Fifteen intervals then span windowMs * RATIO + 15 * MS more than the window (1,350 ms for 15/min,
 * 780 ms for 15 per 3 s), so 16 requests could only land in one rolling window if one request's
 * delay exceeded another's by more than that. The cost is 1 % plus 50 ms of the API's budget.
 */
export const IMPORT_RATE_MARGIN_RATIO = 0.01;
export const IMPORT_RATE_MARGIN_MS = 50;
/** Default burst of the import bucket: no two import requests closer than one interval. */
export const IMPORT_DEFAULT_BURST = 1;
/** Default burst of the status bucket: a few polls may go back to back (several tasks watched). */
export const STATUS_DEFAULT_BURST = 5;

/**
 * Keeps a durable note of every import request before it is sent, so that whoever imports next for
 * the account (another instance after fail-over) knows how much of the rate window is spent.
 * `record` must resolve only once the note is durable; if it rejects, the request is not sent.
 */
export interface ImportRequestRecorder {
  record(): Promise<void>;
}

export interface CaacPaths {
  import: string;
  /** `{task_id}` is replaced by the (URL-encoded) task id. */
  importTask: string;
  export: string;
  exportTask: string;
}

export const DEFAULT_PATHS: Readonly<CaacPaths> = {
  import: '/cdh/v1/member/import',
  importTask: '/cdh/v1/member/import/{task_id}',
  export: '/cdh/v1/member/export',
  exportTask: '/cdh/v1/member/export/{task_id}',
};

export interface CaacClientOptions {
  baseUrl: string;
  /** Secret: sent only in the `apikey` header, never logged or put on an error. */
  apiKey: string;
  paths?: Partial<CaacPaths>;
  /** The Profile API's import limit: `requests` per rolling `windowMs` (15 per 60,000). */
  importRate: { requests: number; windowMs: number; burst?: number };
  /** Our own pace for every other call (task polls, exports, the export list). */
  statusRate: { requests: number; windowMs: number; burst?: number };
  /** Profiles per import; more is refused before sending [PROFILE_API_MAX_ROWS]. */
  maxRows?: number;
  /** Bound of one HTTP attempt, from sending to the whole JSON answer (download: to its headers). */
  requestTimeoutMs: number;
  /** `maxAttempts` counts the first one; waits are full-jitter exponential, at most `maxDelayMs`. */
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  breaker: {
    /** Caps requestTimeoutMs for calls through the breaker (the request is really aborted). */
    timeoutMs?: number;
    errorThresholdPercentage: number;
    volumeThreshold: number;
    resetTimeoutMs: number;
    rollingCountTimeoutMs: number;
  };
}

/** Seams for tests; production uses the defaults. */
export interface CaacClientSeams {
  fetch?: typeof fetch;
  /** Uniform in [0, 1), for the retry jitter. */
  random?: () => number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

/** One HTTP answer from CAAC (any status). */
export interface CaacResponseEvent {
  endpoint: CaacEndpoint;
  method: string;
  path: string;
  status: number;
  durationMs: number;
}

/** How one attempt ended: `ok`, or the code of its error. */
export interface CaacOutcomeEvent {
  endpoint: CaacEndpoint;
  outcome: 'ok' | CaacErrorCode;
  attempt: number;
  status?: number;
}

/** The import bucket was drained after a 429. */
export interface CaacThrottleEvent {
  untilMs: number;
  retryAfterMs?: number;
}

/** A call waited for a token of its bucket (0 ms when one was there). */
export interface CaacTokenWaitEvent {
  bucket: 'import' | 'status';
  waitMs: number;
}

export interface CaacClientEvents {
  breaker: [state: BreakerState];
  waited: [event: CaacTokenWaitEvent];
  response: [event: CaacResponseEvent];
  outcome: [event: CaacOutcomeEvent];
  throttled: [event: CaacThrottleEvent];
}

interface Call<T> {
  endpoint: CaacEndpoint;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** A request with an effect (import, export start): a lost answer is `outcome_unknown`. */
  sideEffect: boolean;
  parse: (body: unknown) => Parsed<T>;
  signal: AbortSignal | undefined;
}

/**
 * The only HTTP client of the Profile API (DESIGN §4.2, invariant 6).
 *
 * - Every import request, retries included, first takes a token from the one import bucket of this
 *   client, paced below the API's limit by a safety margin; import requests go one at a time.
 * - A 429 on an import drains that bucket until `Retry-After`, or for an exponential backoff.
 * - Errors are classified here (`CaacError.code`); only `transient`, `busy` and `rate_limited` are
 *   retried, bounded by `retry.maxAttempts`, with full-jitter exponential backoff.
 * - A circuit breaker counts only `transient` and `outcome_unknown`; while open, calls fail fast
 *   with `circuit_open`.
 * - The api key travels only in the `apikey` header; redirects are not followed, so it never goes
 *   to another host.
 *
 * Events (for metrics): `breaker`, `response`, `outcome`, `throttled`, `waited`; see CaacClientEvents.
 */
/** Redirects a download may take (a CDN in front of object storage takes one or two). */
export const DOWNLOAD_MAX_REDIRECTS = 3;

/** A download URL the file may be fetched from: https, or http to a loopback address (the sandbox). */
function downloadTarget(url: URL): URL {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) return url;
  // The URL itself is signed: only its scheme and host are named.
  throw new CaacError('permanent', `GET download: refused ${url.protocol}//${url.host}: export files are fetched over https only`, { method: 'GET', reason: 'refused_locally' });
}

export class CaacClient extends EventEmitter<CaacClientEvents> {
  readonly paths: Readonly<CaacPaths>;
  readonly maxRows: number;
  /** Milliseconds between two import requests, margin included. */
  readonly importIntervalMs: number;
  private readonly baseUrl: string;
  /** The rolling window the import bucket keeps: the API's, stretched by the same margin as the interval. */
  readonly importWindowMs: number;
  private readonly importBucket: TokenBucket;
  private importRecorder: ImportRequestRecorder | undefined;
  private readonly statusBucket: TokenBucket;
  private readonly breaker: CircuitBreaker<[Call<unknown>], unknown>;
  private readonly attemptTimeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly random: () => number;
  /** Settles when the last queued import has left `importProfiles`. */
  private importTail: Promise<void> = Promise.resolve();
  /** 429s in a row on imports, for the backoff when `Retry-After` is absent. */
  private importThrottles = 0;

  constructor(
    private readonly options: CaacClientOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
    seams: CaacClientSeams = {},
  ) {
    super();
    checkOptions(options);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.paths = { ...DEFAULT_PATHS, ...options.paths };
    this.maxRows = options.maxRows ?? PROFILE_API_MAX_ROWS;
    this.fetch = seams.fetch ?? fetch;
    this.random = seams.random ?? Math.random;
    this.attemptTimeoutMs = Math.min(options.requestTimeoutMs, options.breaker.timeoutMs ?? Infinity);
    const { requests, windowMs, burst = IMPORT_DEFAULT_BURST } = options.importRate;
    this.importIntervalMs = importIntervalMs(requests, windowMs);
    // Window = requests intervals: with the default burst of one the window never binds in one
    // process, but it does with a larger burst and right after a takeover (seedImportRequests).
    this.importWindowMs = requests * this.importIntervalMs;
    this.importBucket = new TokenBucket(clock, {
      capacity: burst,
      intervalMs: this.importIntervalMs,
      window: { limit: Math.max(1, Math.floor(requests)), windowMs: this.importWindowMs },
    });
    this.statusBucket = new TokenBucket(clock, {
      capacity: options.statusRate.burst ?? Math.min(STATUS_DEFAULT_BURST, options.statusRate.requests),
      intervalMs: options.statusRate.windowMs / options.statusRate.requests,
    });
    this.breaker = new CircuitBreaker((call: Call<unknown>) => this.send(call), {
      // Off: opossum's timer would not cancel the request; each request has its own abort timeout.
      timeout: false,
      errorThresholdPercentage: options.breaker.errorThresholdPercentage,
      volumeThreshold: options.breaker.volumeThreshold,
      resetTimeout: options.breaker.resetTimeoutMs,
      rollingCountTimeout: options.breaker.rollingCountTimeoutMs,
      // Filtered errors do not count: our own bad requests, CAAC's rate rules, a caller's abort.
      errorFilter: (error: unknown) => !countsAgainstBreaker(error),
    });
    const changed = (): void => {
      const state = this.breakerState();
      this.logger.warn({ breaker: state }, 'Profile API circuit breaker changed state');
      this.emit('breaker', state);
    };
    this.breaker.on('open', changed);
    this.breaker.on('halfOpen', changed);
    this.breaker.on('close', changed);
  }

  breakerState(): BreakerState {
    if (this.breaker.opened) return 'open';
    return this.breaker.halfOpen ? 'half_open' : 'closed';
  }

  /** Milliseconds until the next import request may go (0: now), for scheduling. */
  importWaitMs(): number {
    return this.importBucket.waitMs();
  }

  /**
   * Every import request from now on is first recorded with `recorder` (write-ahead); a request
   * whose record fails is not sent. Set once, by the importer, before it imports.
   */
  recordImportRequestsWith(recorder: ImportRequestRecorder): void {
    this.importRecorder = recorder;
  }

  /**
   * Charges the import bucket with requests sent `agesMs` ago by a previous importer of the account
   * (a leader that just died), so that together they stay within the API's rolling window.
   */
  seedImportRequests(agesMs: readonly number[]): void {
    this.importBucket.seed(agesMs);
  }

  /** Stops the breaker's timers. The client must not be used afterwards. */
  close(): void {
    this.breaker.shutdown();
  }

  /**
   * Starts an import of `rows` matched on `importKey`; resolves with the task id CAAC accepted.
   * Import requests of this client go one at a time, each after a token of the import bucket.
   * Refuses, without a request, an empty batch, one over `maxRows` or one over 10 MB
   * (`permanent`, reason `refused_locally`: a programming error of the caller).
   *
   * Contract for the caller on `outcome_unknown`: CAAC may have accepted the import without us
   * seeing the answer, so the client does not retry it. Do not count the rows as failed and do not
   * start a different import: wait, then send the same rows again. While the first import is still
   * pending or running CAAC answers 409 (`busy`, retried here within `retry.maxAttempts`), and
   * applying the same values twice changes nothing.
   */
  async importProfiles(importKey: ImportKey, rows: readonly ImportRow[], signal?: AbortSignal): Promise<{ taskId: string }> {
    const path = this.paths.import;
    if (rows.length === 0 || rows.length > this.maxRows) {
      throw new CaacError('permanent', `POST ${path}: refused before sending, an import takes 1 to ${this.maxRows} rows, not ${rows.length}`, {
        method: 'POST',
        path,
        reason: 'refused_locally',
      });
    }
    const body = JSON.stringify({ import_key: importKey, data: rows });
    const bytes = Buffer.byteLength(body);
    if (bytes > PROFILE_API_MAX_BODY_BYTES) {
      throw new CaacError('permanent', `POST ${path}: refused before sending, the body is ${bytes} bytes, over ${PROFILE_API_MAX_BODY_BYTES}`, {
        method: 'POST',
        path,
        reason: 'refused_locally',
      });
    }
    const call: Call<{ taskId: string }> = { endpoint: 'import', method: 'POST', path, body, sideEffect: true, parse: parseAccepted, signal };
    return this.exclusiveImport(
      () =>
        this.withRetries(
          call,
          async () => {
            this.failFastWhenOpen(call);
            const waitFrom = this.clock.now();
            await this.importBucket.take(signal);
            this.emit('waited', { bucket: 'import', waitMs: this.clock.now() - waitFrom });
            // TRICKY: recorded after the token (the record's time is the send's) and before the
            // request, so that a crash right after sending still leaves the record. Every attempt
            // is recorded, 429s included: whether the API counts it is known only afterwards.
            await this.importRecorder?.record();
            try {
              const accepted = await this.call(call);
              this.importThrottles = 0;
              return accepted;
            } catch (error) {
              if (error instanceof CaacError && error.status === 429) this.throttleImports(error);
              else if (error instanceof CaacError && error.status !== undefined) this.importThrottles = 0;
              throw error;
            }
          },
          signal,
        ),
      signal,
    );
  }

  async getImportTask(taskId: string, signal?: AbortSignal): Promise<ImportTask> {
    return this.statusCall({ endpoint: 'import_status', method: 'GET', path: taskPath(this.paths.importTask, taskId), sideEffect: false, parse: parseImportTask, signal });
  }

  /** Starts an export of `fields` (all when absent). A timeout here is `outcome_unknown` too: see listExports. */
  async startExport(fields?: readonly string[], signal?: AbortSignal): Promise<{ taskId: string }> {
    const body = JSON.stringify(fields ? { fields } : {});
    return this.statusCall({ endpoint: 'export', method: 'POST', path: this.paths.export, body, sideEffect: true, parse: parseAccepted, signal });
  }

  async getExportTask(taskId: string, signal?: AbortSignal): Promise<ExportTask> {
    return this.statusCall({ endpoint: 'export_status', method: 'GET', path: taskPath(this.paths.exportTask, taskId), sideEffect: false, parse: parseExportTask, signal });
  }

  /** The account's exports, newest first. */
  async listExports(signal?: AbortSignal): Promise<ExportTask[]> {
    return this.statusCall({ endpoint: 'export_list', method: 'GET', path: this.paths.export, sideEffect: false, parse: parseExportList, signal });
  }

  /**
   * Streams an export's CSV from its (signed) `download_url`: nothing is buffered. The URL carries
   * its own signature, so no api key is sent (it may point at another host). Over https only
   * (plain http to a loopback address excepted, for the sandbox), and so is every redirect, of
   * which at most DOWNLOAD_MAX_REDIRECTS are followed: the file holds every contact.
   * `requestTimeoutMs` bounds the wait for the headers; the body is bounded by `signal`.
   * Downloads bypass the breaker and the buckets: they are not Profile API calls.
   * 410 -> `permanent` with reason `expired`.
   */
  async downloadExport(url: string, signal?: AbortSignal): Promise<Readable> {
    let first: URL;
    try {
      first = downloadTarget(new URL(url, this.baseUrl));
    } catch (error) {
      throw error instanceof CaacError ? error : new CaacError('permanent', 'GET download: not a URL', { method: 'GET', reason: 'refused_locally' });
    }
    let target = first;
    const path = first.pathname;
    const attempt = async (): Promise<Readable> => {
      const headersTimeout = new AbortController();
      const timer = setTimeout(() => headersTimeout.abort(new DOMException('no headers in time', 'TimeoutError')), this.options.requestTimeoutMs);
      const combined = signal ? AbortSignal.any([signal, headersTimeout.signal]) : headersTimeout.signal;
      const started = this.clock.now();
      let response: Response;
      target = first;
      try {
        for (let redirects = 0; ; redirects++) {
          response = await this.fetch(target, { method: 'GET', headers: { accept: 'text/csv' }, signal: combined, redirect: 'manual' });
          const location = response.status >= 300 && response.status < 400 ? response.headers.get('location') : null;
          if (location === null) break;
          await response.body?.cancel().catch(() => undefined);
          if (redirects >= DOWNLOAD_MAX_REDIRECTS) {
            throw new CaacError('permanent', `GET download: more than ${DOWNLOAD_MAX_REDIRECTS} redirects`, { method: 'GET', reason: 'refused_locally' });
          }
          target = downloadTarget(new URL(location, target));
        }
      } catch (error) {
        if (error instanceof CaacError) throw error;
        if (signal?.aborted) throw signal.reason;
        throw classifyNetworkFailure('GET', path, { timedOut: headersTimeout.signal.aborted, timeoutMs: this.options.requestTimeoutMs, error }, false);
      } finally {
        clearTimeout(timer);
      }
      this.emit('response', { endpoint: 'download', method: 'GET', path, status: response.status, durationMs: this.clock.now() - started });
      if (!response.ok || !response.body) {
        const text = this.redact(await response.text().catch(() => ''));
        throw classifyResponse('GET', path, response.status, parseJson(text) ?? text);
      }
      return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    };
    return this.withRetries({ endpoint: 'download' }, attempt, signal);
  }

  private statusCall<T>(call: Call<T>): Promise<T> {
    return this.withRetries(
      call,
      async () => {
        this.failFastWhenOpen(call);
        const waitFrom = this.clock.now();
        await this.statusBucket.take(call.signal);
        this.emit('waited', { bucket: 'status', waitMs: this.clock.now() - waitFrom });
        try {
          return await this.call(call);
        } catch (error) {
          if (error instanceof CaacError && error.code === 'rate_limited') this.statusBucket.drain(this.clock.now() + (error.retryAfterMs ?? this.statusBucket.intervalMs));
          throw error;
        }
      },
      call.signal,
    );
  }

  /**
   * TRICKY: the server's window disagrees with our bucket (another client of the same key, a
   * different limit): stop every import until it agrees. Without `Retry-After` the pause doubles
   * with each 429 in a row, from one import interval up to a whole window, after which the
   * server's window cannot hold any request of ours.
   */
  private throttleImports(error: CaacError): void {
    this.importThrottles += 1;
    const { windowMs } = this.options.importRate;
    const pauseMs = error.retryAfterMs ?? Math.min(windowMs, this.importIntervalMs * 2 ** (this.importThrottles - 1));
    const untilMs = this.clock.now() + pauseMs;
    this.importBucket.drain(untilMs);
    this.logger.warn({ code: error.code, retryAfterMs: error.retryAfterMs, pauseMs }, 'Profile API answered 429 to an import; pausing imports');
    this.emit('throttled', { untilMs, ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) });
  }

  /** Runs `work` when no other import of this client is running; queued callers go in order. */
  private async exclusiveImport<T>(work: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const previous = this.importTail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.importTail = previous.then(() => mine);
    try {
      await untilSettledOrAborted(previous, signal);
      return await work();
    } finally {
      release();
    }
  }

  private async withRetries<T>(call: { endpoint: CaacEndpoint }, attempt: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.options.retry;
    for (let n = 1; ; n++) {
      try {
        const result = await attempt();
        this.emit('outcome', { endpoint: call.endpoint, outcome: 'ok', attempt: n });
        return result;
      } catch (error) {
        if (!(error instanceof CaacError)) throw error; // the caller's abort
        this.emit('outcome', { endpoint: call.endpoint, outcome: error.code, attempt: n, ...(error.status !== undefined ? { status: error.status } : {}) });
        const delayMs = retryDelayMs(n, this.options.retry, this.random(), error.retryAfterMs);
        // A Retry-After longer than our longest wait is the caller's to decide on, not a sleep here.
        if (!error.retryable || n >= maxAttempts || delayMs > Math.max(maxDelayMs, baseDelayMs) || signal?.aborted) throw error;
        this.logger.debug({ endpoint: call.endpoint, code: error.code, status: error.status, attempt: n, retryInMs: Math.round(delayMs) }, 'Profile API call failed; retrying');
        await this.clock.sleep(delayMs, signal);
      }
    }
  }

  private redact(text: string): string {
    return text.includes(this.options.apiKey) ? text.split(this.options.apiKey).join('[redacted]') : text;
  }

  private failFastWhenOpen(call: { method: string; path: string }): void {
    if (this.breaker.opened || (this.breaker.halfOpen && !this.breaker.pendingClose)) throw circuitOpen(call);
  }

  private async call<T>(call: Call<T>): Promise<T> {
    try {
      return (await this.breaker.fire(call as Call<unknown>)) as T;
    } catch (error) {
      if (error instanceof CaacError) throw error;
      if ((error as { code?: unknown }).code === 'EOPENBREAKER') throw circuitOpen(call);
      throw error;
    }
  }

  /** One HTTP attempt: classifies every way it can end. Runs inside the breaker. */
  private async send<T>(call: Call<T>): Promise<T> {
    const { method, path, sideEffect } = call;
    const timeout = AbortSignal.timeout(this.attemptTimeoutMs);
    // TRICKY: a request with a side effect (an import, an export), once sent, is left to finish
    // within its own timeout even when the caller stops (shutdown): cut off, its outcome would be
    // unknown and the next leader would spend a request of the 15 a minute on it again. The
    // caller's signal still ends every wait before and after it (token, retries, polling).
    const signal = call.signal && !sideEffect ? AbortSignal.any([call.signal, timeout]) : timeout;
    const headers: Record<string, string> = { apikey: this.options.apiKey, accept: 'application/json' };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    const started = this.clock.now();
    const failed = (error: unknown): CaacError | unknown => {
      if (call.signal?.aborted && !sideEffect) return call.signal.reason;
      return classifyNetworkFailure(method, path, { timedOut: timeout.aborted, timeoutMs: this.attemptTimeoutMs, error }, sideEffect);
    };
    let response: Response;
    let text: string;
    try {
      // `manual`: a redirect would carry the apikey header to wherever it points.
      response = await this.fetch(`${this.baseUrl}${path}`, { method, headers, body: call.body ?? null, signal, redirect: 'manual' });
      // A server (or proxy) that echoes the request's headers in its detail must not put the key
      // on an error or in a log line.
      text = this.redact(await response.text());
    } catch (error) {
      throw failed(error);
    }
    this.emit('response', { endpoint: call.endpoint, method, path, status: response.status, durationMs: this.clock.now() - started });
    const body = parseJson(text);
    if (!response.ok) {
      throw classifyResponse(method, path, response.status, body ?? text, parseRetryAfter(response.headers.get('retry-after'), this.clock.now()));
    }
    const parsed = body === undefined ? { ok: false as const, problem: 'not JSON' } : call.parse(body);
    if (parsed.ok) return parsed.value;
    // An accepted request with a garbled answer may have started a task; otherwise a reply that is
    // not JSON is a glitch on the way (retry), and JSON of another shape will not change (do not).
    const code: CaacErrorCode = sideEffect ? 'outcome_unknown' : body === undefined ? 'transient' : 'permanent';
    throw new CaacError(code, `${method} ${path} -> ${response.status}: unexpected answer (${parsed.problem})`, {
      method,
      path,
      status: response.status,
      reason: 'malformed_response',
    });
  }
}

/** Milliseconds between two import requests for `requests` per `windowMs`, margin included. */
export function importIntervalMs(requests: number, windowMs: number): number {
  return (windowMs / requests) * (1 + IMPORT_RATE_MARGIN_RATIO) + IMPORT_RATE_MARGIN_MS;
}

/**
 * The wait before attempt `attempt + 1`: full jitter, uniform in [0, min(maxDelayMs, baseDelayMs *
 * 2^(attempt-1))), but never less than a `Retry-After` the server sent.
 */
export function retryDelayMs(attempt: number, retry: { baseDelayMs: number; maxDelayMs: number }, random: number, retryAfterMs?: number): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  const jittered = random * ceiling;
  return retryAfterMs !== undefined ? Math.max(retryAfterMs, jittered) : jittered;
}

function checkOptions(options: CaacClientOptions): void {
  const problems: string[] = [];
  // Checked without echoing the value: header values must be visible ASCII.
  if (!/^[\x21-\x7e]+$/.test(options.apiKey)) problems.push('apiKey must be non-empty visible ASCII');
  if (!URL.canParse(options.baseUrl)) problems.push('baseUrl must be an absolute URL');
  const positive = (name: string, value: number | undefined): void => {
    if (value !== undefined && !(value > 0 && Number.isFinite(value))) problems.push(`${name} must be a positive number`);
  };
  positive('importRate.requests', options.importRate.requests);
  positive('importRate.windowMs', options.importRate.windowMs);
  positive('statusRate.requests', options.statusRate.requests);
  positive('statusRate.windowMs', options.statusRate.windowMs);
  positive('requestTimeoutMs', options.requestTimeoutMs);
  positive('breaker.timeoutMs', options.breaker.timeoutMs);
  positive('retry.baseDelayMs', options.retry.baseDelayMs);
  positive('retry.maxDelayMs', options.retry.maxDelayMs);
  if (!Number.isInteger(options.retry.maxAttempts) || options.retry.maxAttempts < 1) problems.push('retry.maxAttempts must be an integer >= 1');
  if (options.maxRows !== undefined && !(Number.isInteger(options.maxRows) && options.maxRows >= 1 && options.maxRows <= PROFILE_API_MAX_ROWS)) {
    problems.push(`maxRows must be an integer from 1 to ${PROFILE_API_MAX_ROWS}`);
  }
  if (problems.length > 0) throw new Error(`Invalid CAAC client options: ${problems.join('; ')}`);
}

function taskPath(template: string, taskId: string): string {
  if (taskId === '') throw new CaacError('permanent', `${template}: refused before sending, empty task id`, { reason: 'refused_locally' });
  return template.replace('{task_id}', encodeURIComponent(taskId));
}

function circuitOpen(call: { method: string; path: string }): CaacError {
  return new CaacError('circuit_open', `${call.method} ${call.path}: not sent, the circuit is open after repeated failures`, { method: call.method, path: call.path });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Waits for `promise` (never rejects), or rejects with the signal's reason once it aborts. */
function untilSettledOrAborted(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
