import type { CliContext } from './cli-context';

/** One admin call that takes longer than this fails: the service answers at once or it is in trouble. */
const EXPORT_HTTP_TIMEOUT_MS = 10_000;
/**
 * How often the job is read while waiting: an export takes minutes (CAAC builds the file, then it is
 * downloaded and loaded), so once a second shows progress without loading the service.
 */
export const EXPORT_POLL_MS = 1_000;
/** The default bound of the wait: CAAC's export of a large account takes minutes, not an hour. */
export const EXPORT_WAIT_DEFAULT_S = 3_600;

const ACTIVE = new Set(['requested', 'running', 'downloading']);

export type ExportJobView = Record<string, unknown> & { id: string; status: string };

export interface ExportOutcome {
  /**
   * started: a new export; attached: the one already running; busy: one runs and --attach was not
   * given; allowed: the held export, let go on with --allow-deletions.
   */
  how: 'started' | 'attached' | 'busy' | 'allowed';
  /** done, failed, expired, held (waits for --allow-deletions); still running with --no-wait; timeout when the wait ran out. */
  outcome: 'done' | 'failed' | 'expired' | 'held' | 'running' | 'timeout';
  job: ExportJobView | null;
}

export interface ExportOptions {
  fields?: string[];
  wait: boolean;
  attach: boolean;
  /** Let the held export go on (instead of starting one); fails when none is held. */
  allowDeletions?: boolean;
  timeoutMs: number;
  pollMs?: number;
  /** Told each time the job is read while waiting. */
  onProgress?: (job: ExportJobView) => void;
}

/**
 * Starts an export on the running service (POST /admin/exports) and, unless told not to, reads the job
 * until it ends or the wait runs out. While another export runs the service answers 409: the outcome
 * names that export, or with `attach` waits for it instead.
 */
export async function runExport(context: CliContext, url: string, options: ExportOptions): Promise<ExportOutcome> {
  const adminToken = context.adminToken();
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(EXPORT_HTTP_TIMEOUT_MS),
    });
    const parsed: unknown = await response.json().catch(() => null);
    if (response.status === 401) throw new Error(`${url} refused ADMIN_TOKEN (401): is this the service of this environment?`);
    if (response.status === 404 && path === '/admin/exports') throw new Error(`${url} has no export API (404)`);
    return { status: response.status, body: parsed };
  };
  const job = async (id: string): Promise<ExportJobView> => {
    const read = await call('GET', `/admin/exports/${id}`);
    if (read.status !== 200) throw new Error(`${url}/admin/exports/${id} answered ${read.status}: ${messageOf(read.body)}`);
    return read.body as ExportJobView;
  };

  let how: ExportOutcome['how'] = 'started';
  let id: string;
  if (options.allowDeletions) {
    const list = await call('GET', '/admin/exports');
    const held = ((list.body as { exports?: ExportJobView[] } | null)?.exports ?? []).find((one) => one.status === 'held');
    if (!held) throw new Error(`${url} has no held export: nothing waits for its deletions to be allowed`);
    const allowed = await call('POST', `/admin/exports/${held.id}/allow-deletions`);
    if (allowed.status !== 202) throw new Error(`${url} did not let export ${held.id} go on (${allowed.status}: ${messageOf(allowed.body)})`);
    return follow(held.id, 'allowed');
  }
  const started = await call('POST', '/admin/exports', options.fields ? { fields: options.fields } : undefined);
  if (started.status === 202) {
    id = (started.body as { id: string }).id;
  } else if (started.status === 409) {
    const list = await call('GET', '/admin/exports');
    const running = ((list.body as { exports?: ExportJobView[] } | null)?.exports ?? []).find((one) => ACTIVE.has(one.status));
    // TRICKY: the running export can end between the 409 and the list; then there is nothing to name or attach to.
    if (!running) throw new Error(`${url} refused the export (409: ${messageOf(started.body)}), and no export runs now: try again`);
    if (!options.attach) return { how: 'busy', outcome: 'running', job: running };
    how = 'attached';
    id = running.id;
  } else {
    throw new Error(`${url}/admin/exports answered ${started.status}: ${messageOf(started.body)}`);
  }

  return follow(id, how);

  async function follow(id: string, how: ExportOutcome['how']): Promise<ExportOutcome> {
    let current = await job(id);
    if (!options.wait) return { how, outcome: ACTIVE.has(current.status) ? 'running' : (current.status as ExportOutcome['outcome']), job: current };
    const deadline = Date.now() + options.timeoutMs;
    while (ACTIVE.has(current.status)) {
      options.onProgress?.(current);
      if (Date.now() >= deadline) return { how, outcome: 'timeout', job: current };
      await new Promise((resolve) => setTimeout(resolve, Math.min(options.pollMs ?? EXPORT_POLL_MS, Math.max(0, deadline - Date.now()))));
      current = await job(id);
    }
    return { how, outcome: current.status as ExportOutcome['outcome'], job: current };
  }
}

function messageOf(body: unknown): string {
  const message = (body as { message?: unknown } | null)?.message;
  return Array.isArray(message) ? message.join('; ') : String(message ?? body);
}

/** The outcome as lines for a terminal. */
export function formatExport(result: ExportOutcome, timeoutS: number): string[] {
  const job = result.job!;
  switch (result.outcome) {
    case 'done':
      return [`export ${job.id} done: ${String(job.row_count)} rows, ${String(job.bytes)} bytes, sha256 ${String(job.sha256)}, file until ${String(job.expires_at)}`];
    case 'running':
      return result.how === 'busy'
        ? [`export ${job.id} is already running (${job.status}, requested ${String(job.requested_at)}): wait for it with --attach`]
        : [`export ${job.id} ${result.how}, ${job.status}: follow it with GET /admin/exports/${job.id}`];
    case 'held':
      return [`export ${job.id} held: ${String(job.held_reason)}; nothing was deleted. Let it go on with --allow-deletions, or start a newer export`];
    case 'timeout':
      return [`export ${job.id} still ${job.status} after ${timeoutS} s; it goes on in the service: follow it with --attach or GET /admin/exports/${job.id}`];
    default:
      return [`export ${job.id} ${result.outcome}: ${String(job.last_error ?? '-')}`];
  }
}
