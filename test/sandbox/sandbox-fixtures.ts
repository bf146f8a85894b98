import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import type { SandboxConfig } from '../../src/sandbox/sandbox.config';
import { waitFor } from '../support/wait-for';

export const API_KEY = 'key-a';
export const OTHER_API_KEY = 'key-b';
export const IMPORT_PATH = '/cdh/v1/member/import';
export const EXPORT_PATH = '/cdh/v1/member/export';

/** Time scaled down so each file runs in seconds; a file overrides what it is about. */
export const FAST_SANDBOX: Partial<SandboxConfig> = {
  port: 0,
  apiKeys: [API_KEY, OTHER_API_KEY],
  testApi: true,
  ratePerWindow: 1_000,
  rateWindowMs: 60_000,
  taskMinMs: 250,
  taskMsPerRow: 0.01,
  taskPendingMs: 50,
  seed: 7,
  logLevel: 'silent',
};

export function startTestSandbox(overrides: Partial<SandboxConfig> = {}): Promise<RunningSandbox> {
  return startSandbox({ ...FAST_SANDBOX, ...overrides });
}

/**
 * Starts one sandbox for the enclosing describe block, with a client for it, and resets it before
 * each test. Read `ctx.sut` and `ctx.sandbox` inside tests and hooks (they exist once it started).
 */
export function useTestSandbox(overrides: Partial<SandboxConfig> = {}): { readonly sut: SandboxHttp; readonly sandbox: RunningSandbox } {
  let sandbox: RunningSandbox | undefined;
  let sut: SandboxHttp | undefined;
  beforeAll(async () => {
    sandbox = await startTestSandbox(overrides);
    sut = new SandboxHttp(sandbox.url);
  });
  afterAll(() => sandbox?.close());
  beforeEach(() => sut!.reset());
  return {
    get sut() {
      return sut!;
    },
    get sandbox() {
      return sandbox!;
    },
  };
}

let nextCustomer = 1_000;

/** An import row keyed by customer_id; a fresh key unless given. */
export function aRow(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { customer_id: `C-${++nextCustomer}`, ...overrides };
}

export function anImport(data: unknown[], importKey = 'customer_id'): { import_key: string; data: unknown[] } {
  return { import_key: importKey, data };
}

export interface HttpAnswer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A thin client of the sandbox over real HTTP; every call is bounded by `timeoutMs`. */
export class SandboxHttp {
  constructor(
    readonly url: string,
    private readonly apiKey: string | null = API_KEY,
    private readonly timeoutMs = 10_000,
  ) {}

  /** The same client presenting another api key, or none (null). */
  as(apiKey: string | null): SandboxHttp {
    return new SandboxHttp(this.url, apiKey, this.timeoutMs);
  }

  get<T = any>(path: string, init: { timeoutMs?: number } = {}): Promise<HttpAnswer<T>> {
    return this.send<T>('GET', path, undefined, init.timeoutMs);
  }

  post<T = any>(path: string, body?: unknown, init: { timeoutMs?: number } = {}): Promise<HttpAnswer<T>> {
    return this.send<T>('POST', path, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), init.timeoutMs);
  }

  async send<T>(method: string, path: string, body: string | undefined, timeoutMs = this.timeoutMs): Promise<HttpAnswer<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.apiKey !== null) headers.apikey = this.apiKey;
    const response = await fetch(`${path.startsWith('http') ? '' : this.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    const isJson = response.headers.get('content-type')?.startsWith('application/json');
    return { status: response.status, headers: response.headers, body: (isJson ? JSON.parse(text) : text) as T };
  }

  /** Starts an import and returns its task id, failing unless it was accepted. */
  async startImport(data: unknown[], importKey = 'customer_id'): Promise<string> {
    const answer = await this.post(IMPORT_PATH, anImport(data, importKey));
    if (answer.status !== 202) throw new Error(`import refused: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body.task_id as string;
  }

  /** Polls a task until it is done, within `timeoutMs`. */
  async doneTask(kind: 'import' | 'export', taskId: string, timeoutMs = 10_000): Promise<any> {
    const path = `${kind === 'import' ? IMPORT_PATH : EXPORT_PATH}/${taskId}`;
    return waitFor(
      `${kind} task ${taskId} done`,
      async () => {
        const answer = await this.get(path);
        return answer.status === 200 && answer.body.status === 'done' ? answer.body : undefined;
      },
      { timeoutMs, intervalMs: 25 },
    );
  }

  /** Imports and waits for the result. */
  async importDone(data: unknown[], importKey = 'customer_id'): Promise<any> {
    return (await this.doneTask('import', await this.startImport(data, importKey))).result;
  }

  /** The contact's fields as CAAC holds them, without its contact_id (see contactWithId). */
  async contact(keyType: string, key: string, apiKey?: string): Promise<Record<string, unknown> | null> {
    const contact = await this.contactWithId(keyType, key, apiKey);
    if (contact === null) return null;
    const { contact_id: _id, ...fields } = contact;
    return fields;
  }

  async contactWithId(keyType: string, key: string, apiKey?: string): Promise<Record<string, unknown> | null> {
    const query = new URLSearchParams({ key_type: keyType, key, ...(apiKey ? { api_key: apiKey } : {}) });
    return (await this.get(`/__sandbox/contacts?${query}`)).body.contact;
  }

  async setFaults(faults: Record<string, unknown>): Promise<void> {
    const answer = await this.post('/__sandbox/faults', faults);
    if (answer.status !== 200) throw new Error(`faults refused: ${answer.status} ${JSON.stringify(answer.body)}`);
  }

  async reset(): Promise<void> {
    await this.post('/__sandbox/reset');
  }

  async requestLog(): Promise<{ requests: any[]; tasks: any[] }> {
    return (await this.get('/__sandbox/requests')).body;
  }
}

/** Sleeps a bounded, fixed time (for waiting out a scaled window or a TTL). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
