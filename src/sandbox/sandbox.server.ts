import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { stringify } from 'csv-stringify/sync';
import { ContactStore, type Contact, type RowError } from './contact-store';
import { ENDPOINTS, faultProblems, seeded, type Endpoint, type Faults } from './fault-injector';
import { KEY_FIELDS, fieldProblem } from './field-rules';
import { RateWindow } from './rate-window';
import { loadSandboxConfig, type SandboxConfig } from './sandbox.config';

export interface RunningSandbox {
  url: string;
  port: number;
  config: SandboxConfig;
  close(): Promise<void>;
}

type TaskStatus = 'pending' | 'processing' | 'done';

interface Task {
  id: string;
  kind: 'import' | 'export';
  account: number;
  rows: number;
  acceptedAt: number;
  startedAt: number;
  finishedAt: number;
  status: TaskStatus;
  success?: boolean;
  result?: Record<string, unknown>;
  // import
  importKey?: string;
  data?: Array<Record<string, unknown>>;
  // export
  fields?: string[];
  csv?: string;
  signature?: string;
  expiresAt?: number;
}

interface LoggedRequest {
  at: number;
  method: string;
  path: string;
  status: number;
  rows?: number;
  task_id?: string;
  api_key_index?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
  }
}

const IMPORT_KEYS = new Set<string>(KEY_FIELDS);
const iso = (ms: number) => new Date(ms).toISOString();

/** The CAAC Profile API as modeled in DESIGN §4.2, with the test API of §4.3. */
class Sandbox {
  private stores: ContactStore[];
  private windows: RateWindow[];
  private tasks = new Map<string, Task>();
  private log: LoggedRequest[] = [];
  private faults: Faults = {};
  private random: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly hung = new Set<ServerResponse>();
  publicUrl = '';

  constructor(readonly config: SandboxConfig) {
    this.stores = config.apiKeys.map(() => new ContactStore(config.maxCustomFields));
    this.windows = config.apiKeys.map(() => new RateWindow(config.ratePerWindow, config.rateWindowMs));
    this.random = seeded(config.seed ?? Math.floor(Math.random() * 2 ** 31));
  }

  reset(): void {
    this.stores = this.config.apiKeys.map(() => new ContactStore(this.config.maxCustomFields));
    this.windows = this.config.apiKeys.map(() => new RateWindow(this.config.ratePerWindow, this.config.rateWindowMs));
    this.tasks.clear();
    this.log = [];
    this.faults = {};
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    for (const response of this.hung) response.socket?.destroy();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname;
    const entry: LoggedRequest | undefined = path.startsWith('/cdh/') ? { at: Date.now(), method: req.method ?? 'GET', path, status: 0 } : undefined;
    if (entry) this.log.push(entry);
    try {
      const answer = await this.route(req, res, url, entry);
      if (answer === 'hang' || answer === 'dropped') return;
      this.send(res, answer.status, answer.body, answer.headers, entry);
    } catch (error) {
      if (error instanceof HttpError) this.send(res, error.status, { detail: error.detail }, error.headers, entry);
      else this.send(res, 500, { detail: 'internal error' }, {}, entry);
    }
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, entry?: LoggedRequest): void {
    if (entry) entry.status = status;
    if (res.headersSent || res.destroyed) return;
    if (typeof body === 'string') {
      res.writeHead(status, { 'content-type': 'text/csv; charset=utf-8', ...headers });
      res.end(body);
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private account(req: IncomingMessage, entry?: LoggedRequest): number {
    const key = req.headers.apikey;
    const index = typeof key === 'string' ? this.config.apiKeys.indexOf(key) : -1;
    if (index < 0) throw new HttpError(401, 'invalid or missing api key');
    if (entry) entry.api_key_index = index;
    return index;
  }

  /** Latency, 5xx and hangs, before any side effect. */
  private async inject(endpoint: Endpoint): Promise<'hang' | void> {
    const latency = this.faults.latency_ms?.[endpoint] ?? 0;
    if (latency > 0) await this.sleep(latency);
    if (this.random() < (this.faults.hang_rate?.[endpoint] ?? 0)) return 'hang';
    if (this.random() < (this.faults.error_rate?.[endpoint] ?? 0)) {
      throw new HttpError([500, 502, 503][Math.floor(this.random() * 3)]!, 'injected server error');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private hang(res: ServerResponse): 'hang' {
    this.hung.add(res);
    res.on('close', () => this.hung.delete(res));
    return 'hang';
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    entry: LoggedRequest | undefined,
  ): Promise<{ status: number; body: unknown; headers?: Record<string, string> } | 'hang' | 'dropped'> {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path.startsWith('/__sandbox/')) {
      if (!this.config.testApi) throw new HttpError(404, 'not found');
      return this.testApi(req, url);
    }
    if (path.startsWith('/files/exports/')) {
      if (method !== 'GET') throw new HttpError(405, 'method not allowed');
      if ((await this.inject('download')) === 'hang') return this.hang(res);
      return this.download(path, url);
    }
    const importTask = /^\/cdh\/v1\/member\/import\/([^/]+)$/.exec(path);
    const exportTask = /^\/cdh\/v1\/member\/export\/([^/]+)$/.exec(path);
    if (path === '/cdh/v1/member/import') {
      if (method !== 'POST') throw new HttpError(405, 'method not allowed');
      return this.importRequest(req, res, entry);
    }
    if (importTask) {
      if (method !== 'GET') throw new HttpError(405, 'method not allowed');
      const account = this.account(req, entry);
      if ((await this.inject('import_status')) === 'hang') return this.hang(res);
      return { status: 200, body: this.present(this.task(importTask[1]!, 'import', account)) };
    }
    if (path === '/cdh/v1/member/export') {
      const account = this.account(req, entry);
      if (method === 'GET') {
        const exports = [...this.tasks.values()].filter((t) => t.kind === 'export' && t.account === account).sort((a, b) => b.acceptedAt - a.acceptedAt);
        return { status: 200, body: { exports: exports.map((t) => this.present(t)) } };
      }
      if (method !== 'POST') throw new HttpError(405, 'method not allowed');
      if ((await this.inject('export')) === 'hang') return this.hang(res);
      return this.exportRequest(req, account, entry);
    }
    if (exportTask) {
      if (method !== 'GET') throw new HttpError(405, 'method not allowed');
      const account = this.account(req, entry);
      if ((await this.inject('export_status')) === 'hang') return this.hang(res);
      return { status: 200, body: this.present(this.task(exportTask[1]!, 'export', account)) };
    }
    throw new HttpError(404, 'not found');
  }

  private async importRequest(req: IncomingMessage, res: ServerResponse, entry?: LoggedRequest) {
    const account = this.account(req, entry);
    const now = Date.now();
    const storm = this.faults.storm_429;
    if (storm && now < storm.until_ms && this.random() < storm.rate) {
      throw new HttpError(429, 'rate limit exceeded', this.retryAfter(1_000));
    }
    const admitted = this.windows[account]!.admit(now);
    if (!admitted.ok) throw new HttpError(429, 'rate limit exceeded: 15 import requests per minute', this.retryAfter(admitted.retryAfterMs));
    if ((await this.inject('import')) === 'hang') return this.hang(res);
    const body = await this.readJson(req);
    const problems: Array<{ loc: string[]; msg: string; type: string }> = [];
    const b = body as { import_key?: unknown; data?: unknown };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) problems.push({ loc: ['body'], msg: 'must be an object', type: 'type_error' });
    else {
      if (typeof b.import_key !== 'string' || !IMPORT_KEYS.has(b.import_key)) {
        problems.push({ loc: ['body', 'import_key'], msg: `must be one of ${KEY_FIELDS.join(', ')}`, type: 'value_error' });
      }
      if (!Array.isArray(b.data) || b.data.length === 0) problems.push({ loc: ['body', 'data'], msg: 'must be a non-empty array', type: 'value_error' });
      else if (b.data.length > this.config.maxRows) {
        problems.push({ loc: ['body', 'data'], msg: `at most ${this.config.maxRows} rows per import, got ${b.data.length}`, type: 'value_error' });
      } else if (b.data.some((row) => typeof row !== 'object' || row === null || Array.isArray(row))) {
        problems.push({ loc: ['body', 'data'], msg: 'every row must be an object', type: 'type_error' });
      }
    }
    if (entry && Array.isArray(b?.data)) entry.rows = b.data.length;
    if (problems.length > 0) throw new HttpError(422, problems);
    if (this.busy(account, 'import')) throw new HttpError(409, 'another import is pending or running');
    const data = b.data as Array<Record<string, unknown>>;
    const task = this.startTask('import', account, data.length, { importKey: b.import_key as string, data });
    if (entry) entry.task_id = task.id;
    if (this.random() < (this.faults.drop_after_accept_rate ?? 0)) {
      res.socket?.destroy();
      return 'dropped' as const;
    }
    return { status: 202, body: { task_id: task.id } };
  }

  private async exportRequest(req: IncomingMessage, account: number, entry?: LoggedRequest) {
    const body = (await this.readJson(req, true)) as { fields?: unknown } | undefined;
    const fields = body?.fields;
    if (fields !== undefined && (!Array.isArray(fields) || fields.some((f) => typeof f !== 'string'))) {
      throw new HttpError(422, [{ loc: ['body', 'fields'], msg: 'must be an array of field names', type: 'type_error' }]);
    }
    if (this.busy(account, 'export')) throw new HttpError(409, 'another export is pending or running');
    const task = this.startTask('export', account, this.stores[account]!.size, fields ? { fields: fields as string[] } : {});
    if (entry) entry.task_id = task.id;
    return { status: 202, body: { task_id: task.id } };
  }

  private retryAfter(ms: number): Record<string, string> {
    return this.config.retryAfter ? { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) } : {};
  }

  private busy(account: number, kind: 'import' | 'export'): boolean {
    return [...this.tasks.values()].some((t) => t.kind === kind && t.account === account && t.status !== 'done');
  }

  private startTask(kind: 'import' | 'export', account: number, rows: number, extra: Partial<Task>): Task {
    const now = Date.now();
    const duration = this.faults.task_duration_ms ?? Math.max(this.config.taskMinMs, rows * this.config.taskMsPerRow);
    const pending = Math.min(this.config.taskPendingMs, duration);
    const task: Task = { id: randomUUID(), kind, account, rows, acceptedAt: now, startedAt: now + pending, finishedAt: now + duration, status: 'pending', ...extra };
    this.tasks.set(task.id, task);
    const toProcessing = setTimeout(() => {
      this.timers.delete(toProcessing);
      if (task.status === 'pending') task.status = 'processing';
    }, pending);
    const toDone = setTimeout(() => {
      this.timers.delete(toDone);
      task.finishedAt = Date.now();
      if (kind === 'import') this.finishImport(task);
      else this.finishExport(task);
      task.status = 'done';
    }, duration);
    this.timers.add(toProcessing);
    this.timers.add(toDone);
    return task;
  }

  private finishImport(task: Task): void {
    const data = task.data!;
    task.data = undefined;
    if (this.random() < (this.faults.task_failure_rate ?? 0)) {
      task.success = false;
      task.result = {
        success: false,
        total_num: data.length,
        created_num: 0,
        updated_num: 0,
        failed_num: data.length,
        ...(this.faults.task_failure_with_errors
          ? { errors: data.map((row, index) => ({ index, key: row[task.importKey!] ?? null, field: null, reason: 'internal error' })) }
          : {}),
      };
      return;
    }
    const store = this.stores[task.account]!;
    const errors: RowError[] = [];
    let created = 0;
    let updated = 0;
    data.forEach((row, index) => {
      const rule = (this.faults.row_rules ?? []).find((r) =>
        r.equals !== undefined ? row[r.field] === r.equals : r.matches !== undefined ? new RegExp(r.matches).test(String(row[r.field] ?? '')) : r.field in row,
      );
      if (rule) {
        errors.push({ index, key: row[task.importKey!] ?? null, field: rule.field, reason: rule.reason });
        return;
      }
      const outcome = store.apply(task.importKey!, row, index);
      if ('errors' in outcome) errors.push(...outcome.errors);
      else if (outcome.created) created++;
      else updated++;
    });
    const failed = new Set(errors.map((e) => e.index)).size;
    task.success = failed === 0;
    task.result = {
      success: failed === 0,
      total_num: data.length,
      created_num: created,
      updated_num: updated,
      failed_num: failed,
      ...(errors.length > 0 ? { errors } : {}),
    };
  }

  private finishExport(task: Task): void {
    const contacts = this.stores[task.account]!.all();
    const present = new Set<string>();
    for (const contact of contacts) for (const field of Object.keys(contact)) present.add(field);
    const keys = KEY_FIELDS.filter((k) => present.has(k));
    const columns = task.fields ?? [...keys, ...[...present].filter((f) => !(KEY_FIELDS as readonly string[]).includes(f)).sort()];
    const records = contacts.map((contact) => columns.map((column) => (contact[column] === undefined ? '' : String(contact[column]))));
    task.csv = stringify([columns, ...records]);
    task.signature = randomBytes(16).toString('hex');
    task.expiresAt = Date.now() + this.config.exportTtlMs;
    task.success = true;
    task.result = {
      row_count: contacts.length,
      download_url: `${this.publicUrl}/files/exports/${task.id}.csv?signature=${task.signature}`,
      expires_at: iso(task.expiresAt),
    };
  }

  private download(path: string, url: URL) {
    const id = /^\/files\/exports\/([^/]+)\.csv$/.exec(path)?.[1];
    const task = id ? this.tasks.get(id) : undefined;
    if (!task || task.kind !== 'export' || !task.csv || url.searchParams.get('signature') !== task.signature) throw new HttpError(404, 'not found');
    if (Date.now() >= task.expiresAt!) throw new HttpError(410, 'this export has expired');
    return { status: 200, body: task.csv };
  }

  private task(id: string, kind: 'import' | 'export', account: number): Task {
    const task = this.tasks.get(id);
    if (!task || task.kind !== kind || task.account !== account) throw new HttpError(404, `no ${kind} task ${id}`);
    return task;
  }

  private present(task: Task) {
    const updated = task.status === 'done' ? task.finishedAt : task.status === 'processing' ? task.startedAt : task.acceptedAt;
    return {
      task_id: task.id,
      status: task.status,
      created_at: iso(task.acceptedAt),
      updated_at: iso(updated),
      ...(task.status === 'done' ? { result: task.result } : {}),
    };
  }

  private async readJson(req: IncomingMessage, optional = false): Promise<unknown> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.config.maxBodyBytes) {
      req.resume();
      throw new HttpError(413, `the body is larger than ${this.config.maxBodyBytes} bytes`, { connection: 'close' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.config.maxBodyBytes) {
        req.resume();
        throw new HttpError(413, `the body is larger than ${this.config.maxBodyBytes} bytes`, { connection: 'close' });
      }
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') {
      if (optional) return undefined;
      throw new HttpError(400, 'the body is empty; a JSON object is expected');
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(400, 'the body is not valid JSON');
    }
  }

  private async testApi(req: IncomingMessage, url: URL) {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const accountOf = (key: unknown) => {
      if (key === undefined || key === null || key === '') return 0;
      const index = this.config.apiKeys.indexOf(String(key));
      if (index < 0) throw new HttpError(422, 'unknown api_key');
      return index;
    };
    if (path === '/__sandbox/contacts' && method === 'GET') {
      const store = this.stores[accountOf(url.searchParams.get('api_key'))]!;
      const keyType = url.searchParams.get('key_type');
      if (keyType !== null) {
        if (!IMPORT_KEYS.has(keyType)) throw new HttpError(422, `key_type must be one of ${KEY_FIELDS.join(', ')}`);
        return { status: 200, body: { contact: store.find(keyType, url.searchParams.get('key') ?? '') ?? null } };
      }
      const limit = Number(url.searchParams.get('limit') ?? 1000);
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000 || !Number.isInteger(cursor) || cursor < 0) {
        throw new HttpError(422, 'limit must be 1..10000 and cursor a value from next_cursor');
      }
      const all = store.all();
      const page = all.slice(cursor, cursor + limit);
      return { status: 200, body: { contacts: page, next_cursor: cursor + limit < all.length ? String(cursor + limit) : null } };
    }
    if (path === '/__sandbox/contacts' && method === 'POST') {
      const body = (await this.readJson(req)) as { contacts?: unknown; api_key?: unknown };
      if (!Array.isArray(body?.contacts)) throw new HttpError(422, 'contacts must be an array');
      const store = this.stores[accountOf(body.api_key)]!;
      const problems: string[] = [];
      body.contacts.forEach((contact: Contact, i: number) => {
        for (const [field, value] of Object.entries(contact ?? {})) {
          const problem = fieldProblem(field, value);
          if (problem) problems.push(`contacts[${i}].${field}: ${problem}`);
        }
        if (!KEY_FIELDS.some((k) => typeof contact?.[k] === 'string')) problems.push(`contacts[${i}]: needs a key field`);
      });
      if (problems.length > 0) throw new HttpError(422, problems);
      for (const contact of body.contacts as Contact[]) {
        const keyField = KEY_FIELDS.find((k) => typeof contact[k] === 'string')!;
        store.put(store.find(keyField, contact[keyField] as string), { ...contact });
      }
      return { status: 200, body: { seeded: body.contacts.length } };
    }
    if (path === '/__sandbox/requests' && method === 'GET') {
      return {
        status: 200,
        body: {
          requests: this.log.map((r) => ({ ...r, at: iso(r.at) })),
          tasks: [...this.tasks.values()].map((t) => ({
            task_id: t.id,
            kind: t.kind,
            rows: t.rows,
            accepted_at: iso(t.acceptedAt),
            started_at: iso(t.startedAt),
            finished_at: iso(t.finishedAt),
            status: t.status,
            success: t.success ?? null,
          })),
        },
      };
    }
    if (path === '/__sandbox/faults' && method === 'GET') return { status: 200, body: this.faults };
    if (path === '/__sandbox/faults' && method === 'POST') {
      const body = await this.readJson(req);
      const problems = faultProblems(body);
      if (problems.length > 0) throw new HttpError(422, problems);
      const faults = body as Faults;
      if (faults.storm_429) faults.storm_429 = { rate: faults.storm_429.rate, until_ms: Date.now() + faults.storm_429.until_ms };
      if (faults.seed !== undefined) this.random = seeded(faults.seed);
      this.faults = faults;
      return { status: 200, body: this.faults };
    }
    if (path === '/__sandbox/reset' && method === 'POST') {
      this.reset();
      return { status: 200, body: { reset: true } };
    }
    throw new HttpError(404, 'not found');
  }
}

/** Starts the sandbox; `port: 0` takes any free port. */
export async function startSandbox(overrides: Partial<SandboxConfig> = {}): Promise<RunningSandbox> {
  const config = { ...loadSandboxConfig({}), ...overrides };
  const sandbox = new Sandbox(config);
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => void sandbox.handle(req, res));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  sandbox.publicUrl = config.publicUrl ?? url;
  return {
    url,
    port,
    config,
    close: async () => {
      sandbox.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export { ENDPOINTS };
