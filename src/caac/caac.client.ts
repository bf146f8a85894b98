import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import CircuitBreaker from 'opossum';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { CaacError, classifyResponse, parseRetryAfter } from './caac.errors';
import type { ExportTask, ImportKey, ImportRow, ImportTask, ImportTaskResult, TaskStatus } from './caac.types';
import { TokenBucket } from './token-bucket';

/** Profile API: rows per import. */
export const PROFILE_API_MAX_ROWS = 10_000;
/**
 * The import bucket's interval is the API's (window / requests) stretched by this much plus a fixed
 * slack, so that network jitter between our send and the server's arrival time can never put 16
 * requests into one rolling window.
 */
export const RATE_SAFETY_RATIO = 0.01;
export const RATE_SAFETY_MS = 50;

export interface CaacClientOptions {
  baseUrl: string;
  apiKey: string;
  paths?: Partial<CaacPaths>;
  importRate: { requests: number; windowMs: number; burst?: number };
  statusRate: { requests: number; windowMs: number };
  maxRows?: number;
  requestTimeoutMs: number;
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  breaker: { errorThresholdPercentage: number; volumeThreshold: number; resetTimeoutMs: number; rollingCountTimeoutMs: number };
}

export interface CaacPaths {
  import: string;
  importTask: string;
  export: string;
  exportTask: string;
}

export const DEFAULT_PATHS: CaacPaths = {
  import: '/cdh/v1/member/import',
  importTask: '/cdh/v1/member/import/{task_id}',
  export: '/cdh/v1/member/export',
  exportTask: '/cdh/v1/member/export/{task_id}',
};

export type BreakerState = 'closed' | 'open' | 'half_open';

interface Call {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** An import POST: a lost answer means the outcome is unknown, never a plain transient error. */
  sideEffect?: boolean;
  signal?: AbortSignal;
}

/**
 * The only HTTP client of the Profile API. Every import request takes a token from one bucket sized
 * for the API's rate (invariant 6), imports are sent one at a time, errors are typed at this
 * boundary, retries are bounded with exponential backoff and full jitter, and a circuit breaker
 * stops calls while CAAC fails. The api key travels only in the `apikey` header.
 *
 * Events: `breaker` (state), `response` ({ endpoint, status }).
 */
export class CaacClient extends EventEmitter {
  private readonly paths: CaacPaths;
  private readonly importBucket: TokenBucket;
  private readonly statusBucket: TokenBucket;
  private readonly breaker: CircuitBreaker<[Call], unknown>;
  private importLock: Promise<void> = Promise.resolve();
  private readonly maxRows: number;

  constructor(
    private readonly options: CaacClientOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    super();
    this.paths = { ...DEFAULT_PATHS, ...options.paths };
    this.maxRows = options.maxRows ?? PROFILE_API_MAX_ROWS;
    const { requests, windowMs, burst = 1 } = options.importRate;
    const interval = (windowMs / requests) * (1 + RATE_SAFETY_RATIO) + RATE_SAFETY_MS;
    this.importBucket = new TokenBucket(clock, { capacity: burst, intervalMs: interval });
    this.statusBucket = new TokenBucket(clock, {
      capacity: Math.max(1, Math.min(5, options.statusRate.requests)),
      intervalMs: options.statusRate.windowMs / options.statusRate.requests,
    });
    this.breaker = new CircuitBreaker((call: Call) => this.send(call), {
      timeout: false, // each request has its own timeout
      errorThresholdPercentage: options.breaker.errorThresholdPercentage,
      volumeThreshold: options.breaker.volumeThreshold,
      resetTimeout: options.breaker.resetTimeoutMs,
      rollingCountTimeout: options.breaker.rollingCountTimeoutMs,
      // Only failures of CAAC count against it; our own bad requests and its rate rules do not.
      errorFilter: (error: unknown) => error instanceof CaacError && error.code !== 'transient' && error.code !== 'outcome_unknown',
    });
    const changed = () => {
      this.logger.warn({ breaker: this.breakerState() }, 'Profile API circuit breaker changed state');
      this.emit('breaker', this.breakerState());
    };
    this.breaker.on('open', changed);
    this.breaker.on('halfOpen', changed);
    this.breaker.on('close', changed);
  }

  breakerState(): BreakerState {
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'half_open' : 'closed';
  }

  /** Milliseconds until the next import request may go, for scheduling. */
  importWaitMs(): number {
    return this.importBucket.waitMs();
  }

  /**
   * Starts an import. Resolves with the task id once CAAC accepted it.
   *
   * Contract for the caller: a `CaacError` with code `outcome_unknown` means CAAC may have accepted
   * the import without us seeing the answer. Do not treat the rows as failed, and do not start a
   * different import: send the same rows again later; CAAC answers 409 while the first still runs
   * (the client waits that out), and re-applying the same values changes nothing.
   */
  async importProfiles(importKey: ImportKey, rows: ImportRow[], signal?: AbortSignal): Promise<{ taskId: string }> {
    if (rows.length === 0 || rows.length > this.maxRows) {
      throw new CaacError('permanent', `an import takes 1 to ${this.maxRows} rows, not ${rows.length}`);
    }
    // One import request in flight per client: the API allows one import at a time anyway.
    const previous = this.importLock;
    let release!: () => void;
    this.importLock = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      const body = await this.withRetries(
        'import',
        async () => {
          await this.importBucket.take(signal);
          return this.call({ method: 'POST', path: this.paths.import, body: { import_key: importKey, data: rows }, sideEffect: true, signal });
        },
        signal,
      );
      const taskId = (body as { task_id?: unknown })?.task_id;
      if (typeof taskId !== 'string' || taskId.length === 0) {
        throw new CaacError('outcome_unknown', `POST ${this.paths.import} -> accepted without a task_id`);
      }
      return { taskId };
    } finally {
      release();
    }
  }

  async getImportTask(taskId: string, signal?: AbortSignal): Promise<ImportTask> {
    const body = await this.status(this.paths.importTask.replace('{task_id}', encodeURIComponent(taskId)), signal);
    const task = taskOf(body, `import task ${taskId}`);
    const result = task.status === 'done' ? importResultOf((body as { result?: unknown }).result) : undefined;
    return { ...task, ...(result ? { result } : {}) };
  }

  async startExport(fields?: string[], signal?: AbortSignal): Promise<{ taskId: string }> {
    const body = await this.withRetries(
      'export',
      () => this.call({ method: 'POST', path: this.paths.export, body: fields ? { fields } : {}, signal }),
      signal,
    );
    const taskId = (body as { task_id?: unknown })?.task_id;
    if (typeof taskId !== 'string') throw new CaacError('transient', `POST ${this.paths.export} -> no task_id in the answer`);
    return { taskId };
  }

  async getExportTask(taskId: string, signal?: AbortSignal): Promise<ExportTask> {
    return exportTaskOf(await this.status(this.paths.exportTask.replace('{task_id}', encodeURIComponent(taskId)), signal));
  }

  async listExports(signal?: AbortSignal): Promise<ExportTask[]> {
    const body = (await this.status(this.paths.export, signal)) as { exports?: unknown };
    if (!Array.isArray(body?.exports)) throw new CaacError('transient', `GET ${this.paths.export} -> no exports list in the answer`);
    return body.exports.map(exportTaskOf);
  }

  /** Streams an export's CSV. The signed URL needs no api key, so none is sent. */
  async downloadExport(url: string, signal?: AbortSignal): Promise<Readable> {
    const path = new URL(url).pathname;
    const response = await this.fetchWithTimeout(url, { method: 'GET', signal }, 'GET', path, false);
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '');
      throw classifyResponse('GET', path, response.status, safeJson(text), undefined);
    }
    return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  private async status(path: string, signal?: AbortSignal): Promise<unknown> {
    return this.withRetries(
      'status',
      async () => {
        await this.statusBucket.take(signal);
        return this.call({ method: 'GET', path, signal });
      },
      signal,
    );
  }

  private async withRetries<T>(what: string, attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.options.retry;
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof CaacError) || !error.retryable || n >= maxAttempts || signal?.aborted) throw error;
        const backoff = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1)); // full jitter
        const delay = error.retryAfterMs !== undefined ? Math.max(error.retryAfterMs, backoff) : backoff;
        if (error.code === 'rate_limited' || (what === 'import' && error.status === 429)) {
          // TRICKY: the server's window disagrees with our bucket; stop every import until it agrees.
          this.importBucket.drain(this.clock.now() + (error.retryAfterMs ?? Math.min(maxDelayMs, baseDelayMs * 2 ** n)));
        }
        this.logger.debug({ what, code: error.code, attempt: n, retryInMs: Math.round(delay) }, 'Profile API call failed; retrying');
        await this.clock.sleep(delay, signal);
      }
    }
  }

  private async call(call: Call): Promise<unknown> {
    try {
      return await this.breaker.fire(call);
    } catch (error) {
      if (error instanceof CaacError) throw error;
      if (this.breaker.opened || (error as { code?: string }).code === 'EOPENBREAKER') {
        throw new CaacError('circuit_open', `${call.method} ${call.path}: circuit open after repeated failures`);
      }
      throw error;
    }
  }

  private async send(call: Call): Promise<unknown> {
    const response = await this.fetchWithTimeout(
      `${this.options.baseUrl}${call.path}`,
      {
        method: call.method,
        headers: { apikey: this.options.apiKey, accept: 'application/json', ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
        signal: call.signal,
      },
      call.method,
      call.path,
      call.sideEffect === true,
    );
    const text = await response.text().catch(() => {
      throw new CaacError(call.sideEffect ? 'outcome_unknown' : 'transient', `${call.method} ${call.path}: the answer was cut off`);
    });
    const body = safeJson(text);
    this.emit('response', { path: call.path, method: call.method, status: response.status });
    if (response.ok) return body;
    throw classifyResponse(call.method, call.path, response.status, body, parseRetryAfter(response.headers.get('retry-after'), this.clock.now()));
  }

  private async fetchWithTimeout(
    url: string,
    init: RequestInit & { signal?: AbortSignal | undefined },
    method: string,
    path: string,
    sideEffect: boolean,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      return await fetch(url, { ...init, signal });
    } catch (error) {
      if (init.signal?.aborted) throw error; // the caller gave up: not CAAC's failure
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      // A refused connection never reached CAAC; anything after the request left may have.
      const reached = cause !== 'ECONNREFUSED' && cause !== 'ENOTFOUND' && cause !== 'EAI_AGAIN';
      const code = sideEffect && reached ? 'outcome_unknown' : 'transient';
      const what = timeout.aborted ? `no answer within ${this.options.requestTimeoutMs} ms` : `connection failed (${cause})`;
      throw new CaacError(code, `${method} ${path}: ${what}`);
    }
  }
}

function safeJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const STATUSES: readonly TaskStatus[] = ['pending', 'processing', 'done'];

function taskOf(body: unknown, what: string): { taskId: string; status: TaskStatus; createdAt?: string; updatedAt?: string } {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b.task_id !== 'string' || !STATUSES.includes(b.status as TaskStatus)) {
    throw new CaacError('transient', `${what}: unexpected answer (no task_id or status)`);
  }
  return {
    taskId: b.task_id,
    status: b.status as TaskStatus,
    ...(typeof b.created_at === 'string' ? { createdAt: b.created_at } : {}),
    ...(typeof b.updated_at === 'string' ? { updatedAt: b.updated_at } : {}),
  };
}

function importResultOf(result: unknown): ImportTaskResult {
  const r = (result ?? {}) as Record<string, unknown>;
  const num = (value: unknown) => (typeof value === 'number' ? value : undefined);
  const errors = Array.isArray(r.errors)
    ? r.errors.flatMap((e) => {
        const error = e as Record<string, unknown>;
        if (typeof error.index !== 'number') return [];
        return [
          {
            index: error.index,
            ...(error.key !== undefined ? { key: String(error.key) } : {}),
            ...(typeof error.field === 'string' ? { field: error.field } : {}),
            reason: typeof error.reason === 'string' ? error.reason : 'rejected',
          },
        ];
      })
    : undefined;
  return {
    success: r.success === true,
    ...(num(r.total_num) !== undefined ? { totalNum: num(r.total_num) } : {}),
    ...(num(r.created_num) !== undefined ? { createdNum: num(r.created_num) } : {}),
    ...(num(r.updated_num) !== undefined ? { updatedNum: num(r.updated_num) } : {}),
    ...(num(r.failed_num) !== undefined ? { failedNum: num(r.failed_num) } : {}),
    ...(errors ? { errors } : {}),
  };
}

function exportTaskOf(body: unknown): ExportTask {
  const task = taskOf(body, 'export task');
  const r = (body as { result?: Record<string, unknown> }).result;
  if (task.status !== 'done' || !r) return task;
  if (typeof r.download_url !== 'string') throw new CaacError('transient', `export task ${task.taskId}: done without a download_url`);
  return {
    ...task,
    result: { rowCount: Number(r.row_count ?? 0), downloadUrl: r.download_url, expiresAt: String(r.expires_at ?? '') },
  };
}
