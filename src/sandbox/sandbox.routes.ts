import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { READ_ONLY_FIELDS, fieldNameProblem } from './field-rules';
import type { FaultEndpoint } from './fault-injector';
import { HttpError, allow } from './http-error';
import { parseExportBody, parseImportBody } from './import-body';
import { readJsonBody } from './json-body';
import { NO_REPLY, json, type Reply } from './reply';
import type { LoggedRequest } from './request-log';
import type { SandboxState } from './sandbox-state';
import type { SleepTimers } from './sleep-timers';

export const IMPORT_PATH = '/cdh/v1/member/import';
export const EXPORT_PATH = '/cdh/v1/member/export';
const IMPORT_TASK_PATH = /^\/cdh\/v1\/member\/import\/([^/]+)$/;
const EXPORT_TASK_PATH = /^\/cdh\/v1\/member\/export\/([^/]+)$/;
const DOWNLOAD_PATH = /^\/files\/exports\/([^/]+)\.csv$/;

const HANG = Symbol('hang');

/** One request as the routes see it: `at` is its arrival time, `entry` its request-log line. */
export interface SandboxRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  at: number;
  entry: LoggedRequest | undefined;
}

const exportFieldProblem = (field: string) => (READ_ONLY_FIELDS.includes(field) ? undefined : fieldNameProblem(field));

/** The Profile API of DESIGN §4.2 and the export downloads; undefined when the path is not one of them. */
export class ProfileApiRoutes {
  constructor(
    private readonly state: SandboxState,
    private readonly sleeps: SleepTimers,
    private readonly logger: Logger,
  ) {}

  async handle(request: SandboxRequest): Promise<Reply | undefined> {
    const path = request.url.pathname;
    const method = request.req.method ?? 'GET';
    if (path === IMPORT_PATH) {
      allow(method, ['POST']);
      return this.postImport(request);
    }
    if (path === EXPORT_PATH) {
      allow(method, ['GET', 'POST']);
      return method === 'POST' ? this.postExport(request) : this.listExports(request);
    }
    const importTask = IMPORT_TASK_PATH.exec(path);
    if (importTask) {
      allow(method, ['GET']);
      return this.getTask(request, 'import', decodeSegment(importTask[1]!));
    }
    const exportTask = EXPORT_TASK_PATH.exec(path);
    if (exportTask) {
      allow(method, ['GET']);
      return this.getTask(request, 'export', decodeSegment(exportTask[1]!));
    }
    const download = DOWNLOAD_PATH.exec(path);
    if (download) {
      allow(method, ['GET']);
      return this.download(request, decodeSegment(download[1]!));
    }
    return undefined;
  }

  /** Checks in the Profile API's order: 401, 429, 413, 400, 422, 409, then 202. */
  private async postImport({ req, res, at, entry }: SandboxRequest): Promise<Reply> {
    const account = this.authenticate(req, entry);
    const stormLeftMs = this.state.faults.storm(at);
    if (stormLeftMs !== undefined) throw this.tooManyRequests('rate limit exceeded (storm)', stormLeftMs);
    const admission = this.state.rateWindow(account).admit(at);
    if (!admission.admitted) {
      const { ratePerWindow, rateWindowMs } = this.state.config;
      throw this.tooManyRequests(`rate limit exceeded: at most ${ratePerWindow} import requests per ${rateWindowMs} ms`, admission.retryAfterMs);
    }
    // From here on the request counts in the window, whatever it is answered.
    if ((await this.injectFaults('import')) === HANG) return NO_REPLY;
    const body = await readJsonBody(req, this.state.config.maxBodyBytes);
    const parsed = parseImportBody(body, this.state.config.maxRows);
    if (entry && typeof body === 'object' && body !== null && Array.isArray((body as { data?: unknown }).data)) {
      entry.rows = (body as { data: unknown[] }).data.length;
    }
    if ('issues' in parsed) throw HttpError.unprocessable(parsed.issues);
    const now = Date.now();
    if (this.state.tasks.busy(account, 'import', now)) throw new HttpError(409, 'another import of this api key is pending or processing');
    const task = this.state.acceptImport(account, parsed.importKey, parsed.data, now);
    if (entry) entry.task_id = task.id;
    if (this.state.faults.dropsAfterAccept()) {
      this.logger.debug({ task_id: task.id }, 'dropping the connection of an accepted import');
      res.destroy();
      return NO_REPLY;
    }
    return json(202, { task_id: task.id });
  }

  private async postExport({ req, entry }: SandboxRequest): Promise<Reply> {
    const account = this.authenticate(req, entry);
    if ((await this.injectFaults('export')) === HANG) return NO_REPLY;
    const parsed = parseExportBody(await readJsonBody(req, this.state.config.maxBodyBytes), exportFieldProblem);
    if ('issues' in parsed) throw HttpError.unprocessable(parsed.issues);
    const now = Date.now();
    if (this.state.tasks.busy(account, 'export', now)) throw new HttpError(409, 'another export of this api key is pending or processing');
    const task = this.state.acceptExport(account, parsed.fields, now);
    if (entry) entry.task_id = task.id;
    return json(202, { task_id: task.id });
  }

  private async listExports({ req, entry }: SandboxRequest): Promise<Reply> {
    const account = this.authenticate(req, entry);
    if ((await this.injectFaults('export_status')) === HANG) return NO_REPLY;
    return json(200, { exports: this.state.exportsOf(account, this.settledNow()) });
  }

  private async getTask({ req, entry }: SandboxRequest, kind: 'import' | 'export', id: string): Promise<Reply> {
    const account = this.authenticate(req, entry);
    if ((await this.injectFaults(kind === 'import' ? 'import_status' : 'export_status')) === HANG) return NO_REPLY;
    const now = this.settledNow();
    const task = this.state.taskOf(account, kind, id);
    if (!task) throw HttpError.notFound(`no ${kind} task ${id}`);
    return json(200, this.state.view(task, now));
  }

  private async download({ url }: SandboxRequest, id: string): Promise<Reply> {
    if ((await this.injectFaults('download')) === HANG) return NO_REPLY;
    const found = this.state.download(id, url.searchParams.get('signature'), this.settledNow());
    if (found === 'not-found') throw HttpError.notFound('no such export file, or a wrong signature');
    if (found === 'expired') throw new HttpError(410, 'this export file has expired');
    return { kind: 'csv-stream', status: 200, body: found.csv };
  }

  private authenticate(req: IncomingMessage, entry: LoggedRequest | undefined): number {
    const account = this.state.apiKeys.accountOf(req.headers.apikey);
    if (account === undefined) throw new HttpError(401, 'Invalid or missing api key (header "apikey")');
    if (entry) entry.api_key_index = account;
    return account;
  }

  private tooManyRequests(detail: string, retryAfterMs: number): HttpError {
    const headers: Record<string, string> = this.state.config.retryAfter ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } : {};
    return new HttpError(429, detail, headers);
  }

  /** Latency, then a hang or an injected 5xx, all before any side effect of the endpoint. */
  private async injectFaults(endpoint: FaultEndpoint): Promise<typeof HANG | undefined> {
    const latency = this.state.faults.latencyMs(endpoint);
    if (latency > 0) await this.sleeps.sleep(latency);
    if (this.state.faults.hangs(endpoint)) return HANG;
    const status = this.state.faults.injectedError(endpoint);
    if (status !== undefined) throw new HttpError(status, `injected ${status} on ${endpoint}`);
    return undefined;
  }

  /** The time after latency: tasks due by then are completed first. */
  private settledNow(): number {
    const now = Date.now();
    this.state.tasks.settle(now);
    return now;
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw HttpError.notFound('Not Found');
  }
}
