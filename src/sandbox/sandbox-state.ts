import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { ApiKeyRegistry } from './api-key-registry';
import { ContactStore, type ChangeTime } from './contact-store';
import { contactsAsOf, exportColumns, exportCsvStream } from './export-csv';
import { FaultInjector } from './fault-injector';
import { applyImport } from './import-applier';
import { isoTime } from './iso-time';
import { RateWindow } from './rate-window';
import { RequestLog } from './request-log';
import type { ImportRow } from './row-validation';
import type { SandboxConfig } from './sandbox.config';
import type { ExportTask, ImportTask, SandboxTask } from './sandbox-task';
import { randomSeed } from './seeded-random';
import { TaskRunner } from './task-runner';
import { taskTiming } from './task-timing';

const SIGNATURE_BYTES = 16;

/** A task as the Profile API shows it. */
export interface TaskView {
  task_id: string;
  status: string;
  created_at: string;
  updated_at: string;
  result?: unknown;
}

export type Download = { csv: Readable } | 'not-found' | 'expired';

/**
 * Everything the sandbox holds, per account (api key): contacts, the import rate window and the
 * tasks; plus the request log and the faults. Routes translate HTTP to and from these calls.
 */
export class SandboxState {
  readonly apiKeys: ApiKeyRegistry;
  readonly tasks = new TaskRunner(() => Date.now());
  readonly log = new RequestLog();
  readonly faults: FaultInjector;
  private stores: ContactStore[] = [];
  private windows: RateWindow[] = [];
  publicUrl = '';

  constructor(
    readonly config: SandboxConfig,
    private readonly logger: Logger,
  ) {
    this.apiKeys = new ApiKeyRegistry(config.apiKeys);
    this.faults = new FaultInjector(config.seed ?? randomSeed());
    this.resetAccounts();
  }

  store(account: number): ContactStore {
    return this.stores[account]!;
  }

  rateWindow(account: number): RateWindow {
    return this.windows[account]!;
  }

  acceptImport(account: number, importKey: string, data: ImportRow[], now: number): ImportTask {
    const task: ImportTask = {
      id: randomUUID(),
      kind: 'import',
      account,
      rows: data.length,
      ...taskTiming(now, data.length, this.config, this.faults.taskDurationMs()),
      done: false,
      success: null,
      importKey,
      data,
      failure: this.faults.taskFailure(),
      rowRule: this.faults.rowRules(),
    };
    this.tasks.add(task, (done) => this.completeImport(done));
    this.logger.debug({ task_id: task.id, account, rows: task.rows, finished_at: isoTime(task.finishedAt) }, 'import accepted');
    return task;
  }

  acceptExport(account: number, fields: string[] | undefined, now: number): ExportTask {
    const rows = this.store(account).size;
    const task: ExportTask = {
      id: randomUUID(),
      kind: 'export',
      account,
      rows,
      ...taskTiming(now, rows, this.config, this.faults.taskDurationMs()),
      done: false,
      success: null,
      fields,
      cutoff: now - this.config.exportLagMs,
    };
    this.tasks.add(task, (done) => this.completeExport(done));
    this.logger.debug({ task_id: task.id, account, rows }, 'export accepted');
    return task;
  }

  /** The account's task of this kind, or undefined (unknown id, or another account's task). */
  taskOf(account: number, kind: SandboxTask['kind'], id: string): SandboxTask | undefined {
    const task = this.tasks.get(id);
    return task && task.account === account && task.kind === kind ? task : undefined;
  }

  view(task: SandboxTask, now: number): TaskView {
    const status = this.tasks.statusOf(task, now);
    const updatedAt = status === 'done' ? task.finishedAt : status === 'processing' ? task.startedAt : task.acceptedAt;
    return {
      task_id: task.id,
      status,
      created_at: isoTime(task.acceptedAt),
      updated_at: isoTime(updatedAt),
      ...(status === 'done' ? { result: task.result } : {}),
    };
  }

  /** The account's exports, newest first. */
  exportsOf(account: number, now: number): TaskView[] {
    return this.tasks
      .list()
      .filter((task) => task.kind === 'export' && task.account === account)
      .reverse()
      .sort((a, b) => b.acceptedAt - a.acceptedAt)
      .map((task) => this.view(task, now));
  }

  download(taskId: string, signature: string | null, now: number): Download {
    const task = this.tasks.get(taskId);
    if (!task || task.kind !== 'export' || task.columns === undefined || task.signature === undefined || signature === null) return 'not-found';
    const expected = Buffer.from(task.signature);
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'not-found';
    return now >= task.expiresAt! ? 'expired' : { csv: exportCsvStream(this.store(task.account), task.columns, task.cutoff) };
  }

  /**
   * The time of a change made now, and how far back exports may still read: the staleness lag
   * for exports yet to come, and the cutoff of every export whose file can still be downloaded.
   */
  changeTime(now: number): ChangeTime {
    let keepSince = now - this.config.exportLagMs;
    for (const task of this.tasks.list()) {
      if (task.kind === 'export' && (task.expiresAt === undefined || now < task.expiresAt)) keepSince = Math.min(keepSince, task.cutoff);
    }
    return { at: now, keepSince };
  }

  /** Forgets contacts, tasks, the request log, rate windows and faults; keeps the configuration. */
  reset(): void {
    this.tasks.clear();
    this.log.clear();
    this.faults.clear();
    this.resetAccounts();
  }

  private resetAccounts(): void {
    this.stores = this.config.apiKeys.map(() => new ContactStore(this.config.maxCustomFields));
    this.windows = this.config.apiKeys.map(() => new RateWindow(this.config.ratePerWindow, this.config.rateWindowMs));
  }

  private completeImport(task: ImportTask): void {
    const result = applyImport(this.store(task.account), task, this.changeTime(task.finishedAt));
    task.data = undefined;
    task.result = result;
    task.success = result.success;
    this.logger.debug({ task_id: task.id, success: result.success, created: result.created_num, updated: result.updated_num, failed: result.failed_num }, 'import done');
  }

  private completeExport(task: ExportTask): void {
    const { columns, rows } = exportColumns(
      (function* (store: ContactStore) {
        for (const { contact } of contactsAsOf(store, task.cutoff)) yield contact;
      })(this.store(task.account)),
      task.fields,
    );
    task.columns = columns;
    task.signature = randomBytes(SIGNATURE_BYTES).toString('hex');
    task.expiresAt = task.finishedAt + this.config.exportTtlMs;
    task.success = true;
    task.result = {
      row_count: rows,
      download_url: `${this.publicUrl}/files/exports/${task.id}.csv?signature=${task.signature}`,
      expires_at: isoTime(task.expiresAt),
    };
    this.logger.debug({ task_id: task.id, rows }, 'export done');
  }
}
