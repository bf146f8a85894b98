import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query, UseGuards } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CaacClient } from '../caac/caac.client';
import type { ExportTask } from '../caac/caac.types';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { AdminTokenGuard } from '../http/admin-token.guard';
import { ExportAlreadyRunningError, ExportJobRepository, ExportStateError, type ExportJob } from './export-job.repository';
import { ExportRunner } from './export-runner.service';

/** Jobs shown by the list: CAAC keeps files a week, so this covers months of daily exports. */
const LIST_MAX = 200;
const LIST_DEFAULT = 50;
/**
 * CAAC's export list is read at most this often, for every caller at once: each read spends a
 * token of the status bucket that task polls need.
 */
export const CAAC_LIST_CACHE_MS = 5_000;
/** Profile API: a contact holds at most ~20 known and 200 custom fields. */
const FIELDS_MAX = 250;
const FIELD_NAME = /^[a-z][a-z0-9_]{0,63}$/;

function present(job: ExportJob, now: number) {
  return {
    id: job.id,
    status: job.status,
    task_id: job.taskId,
    fields: job.fields,
    target: job.target,
    requested_at: job.requestedAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    row_count: job.rowCount,
    rows_written: job.rowsWritten,
    malformed_rows: job.malformedRows,
    bytes: job.byteCount,
    sha256: job.sha256,
    columns: job.columns,
    expires_at: job.expiresAt,
    // The download link is signed and never stored: whether the file can still be had is shown.
    file_available: job.taskId !== null && job.expiresAt !== null && job.expiresAt.getTime() > now,
    kept_on_refusal: job.keptOnRefusal,
    deletions: job.deletions,
    held_reason: job.heldReason,
    deletions_allowed_at: job.deletionsAllowedAt,
    delivered_at: job.deliveredAt,
    table: { rows: job.tableRows, done_at: job.tableDoneAt },
    topic: { rows: job.topicRows, tombstones: job.topicTombstones, done_at: job.topicDoneAt },
    attempts: job.attempts,
    last_error: job.lastError,
  };
}

function presentCaac(task: ExportTask) {
  return { task_id: task.taskId, status: task.status, created_at: task.createdAt ?? null, row_count: task.result?.rowCount ?? null, expires_at: task.result?.expiresAt ?? null };
}

function listLimit(limit: string | undefined): number {
  if (limit === undefined) return LIST_DEFAULT;
  if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > LIST_MAX) throw new BadRequestException(`limit must be a whole number from 1 to ${LIST_MAX}`);
  return Number(limit);
}

function jobId(id: string): string {
  if (!/^\d{1,18}$/.test(id)) throw new BadRequestException('export id must be a positive whole number');
  return id;
}

function parseFields(body: unknown): string[] | null {
  if (body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) return null;
  if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequestException('body must be a JSON object, e.g. {"fields": ["customer_id", "line_uid"]}');
  const { fields, ...rest } = body as { fields?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new BadRequestException(`unknown body properties: ${unknown.join(', ')}; only "fields" is accepted`);
  if (fields === undefined || fields === null) return null;
  if (!Array.isArray(fields) || fields.length === 0 || fields.length > FIELDS_MAX) throw new BadRequestException(`fields must be a list of 1 to ${FIELDS_MAX} field names`);
  const bad = fields.filter((field) => typeof field !== 'string' || !FIELD_NAME.test(field));
  if (bad.length > 0) throw new BadRequestException(`fields must be field names (lower case, digits, underscores): ${bad.slice(0, 5).map((f) => JSON.stringify(f)).join(', ')}`);
  if (new Set(fields).size !== fields.length) throw new BadRequestException('fields lists a field twice');
  return fields as string[];
}

/** Admin routes of exports (DESIGN §4.6): start one, list them (with CAAC's list), one, redeliver, retry, allow deletions. */
@Controller('admin/exports')
@ApiTags('admin')
@ApiBearerAuth('admin-token')
@UseGuards(AdminTokenGuard)
export class ExportsController {
  private readonly jobs: ExportJobRepository;
  private listed: { at: number; read: Promise<ExportTask[]> } | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    dataSource: DataSource,
    private readonly runner: ExportRunner,
    private readonly client: CaacClient,
  ) {
    this.jobs = new ExportJobRepository(dataSource);
  }

  @Post()
  @HttpCode(202) // accepted: the export runs in the background; follow it with GET /admin/exports/:id
  async start(@Body() body: unknown) {
    const fields = parseFields(body);
    try {
      const job = await this.runner.request(fields);
      return { id: job.id };
    } catch (error) {
      if (error instanceof ExportAlreadyRunningError) throw new ConflictException(error.message);
      throw error;
    }
  }

  /**
   * Local jobs, newest first, each with CAAC's view of its task; then exports CAAC lists that no
   * local job started (started elsewhere). CAAC's list failing leaves the local jobs, with the reason.
   */
  @Get()
  async list(@Query('limit') limit?: string) {
    const now = Date.now();
    const jobs = await this.jobs.list(this.config.caac.account, listLimit(limit));
    let caac: ExportTask[] | undefined;
    let caacError: string | undefined;
    try {
      caac = await this.caacList();
    } catch (error) {
      caacError = error instanceof Error ? error.message : String(error);
      this.logger.warn({ err: error }, 'CAAC export list unavailable');
    }
    const byTask = new Map((caac ?? []).map((task) => [task.taskId, task]));
    const local = new Set(jobs.flatMap((job) => (job.taskId ? [job.taskId] : [])));
    return {
      exports: jobs.map((job) => ({ ...present(job, now), caac: job.taskId && byTask.has(job.taskId) ? presentCaac(byTask.get(job.taskId)!) : null })),
      elsewhere: (caac ?? []).filter((task) => !local.has(task.taskId)).map(presentCaac),
      ...(caacError !== undefined ? { caac_error: caacError } : {}),
    };
  }

  @Get(':id')
  async one(@Param('id') id: string) {
    return present(await this.job(id), Date.now());
  }

  /** Delivers the newest done export's file again; an older one would roll the mirror back, so it is refused. */
  @Post(':id/redeliver')
  @HttpCode(202)
  async redeliver(@Param('id') id: string) {
    const job = await this.job(id);
    if (job.status !== 'done') throw new ConflictException(`export ${id} is ${job.status}; only a done export can be delivered again`);
    const newest = await this.jobs.newestDone(this.config.caac.account);
    if (newest && newest.id !== job.id) {
      throw new ConflictException(`export ${id} is older than export ${newest.id}, the newest done export; delivering it again would roll the mirror back: redeliver ${newest.id}`);
    }
    this.fileStillValid(job);
    await this.resume(() => this.runner.redeliver(job));
    return { id: job.id };
  }

  /** Takes a failed export up again from the step it failed at, while its file is valid. */
  @Post(':id/retry')
  @HttpCode(202)
  async retry(@Param('id') id: string) {
    const job = await this.job(id);
    if (job.status !== 'failed') throw new ConflictException(`export ${id} is ${job.status}; only a failed export can be retried`);
    const newest = await this.jobs.newestDone(this.config.caac.account);
    if (newest && BigInt(newest.id) > BigInt(job.id)) {
      throw new ConflictException(`export ${newest.id} is newer and done; retrying export ${id} would roll the mirror back: start a new export`);
    }
    if (job.expiresAt !== null) this.fileStillValid(job);
    const resumed = await this.resume(() => this.runner.retry(job));
    return { id: job.id, status: resumed.status };
  }

  /** Lets a held export go on and delete the contacts its file lacks. */
  @Post(':id/allow-deletions')
  @HttpCode(202)
  async allowDeletions(@Param('id') id: string) {
    const job = await this.job(id);
    if (job.status !== 'held') throw new ConflictException(`export ${id} is ${job.status}; only a held export waits for its deletions to be allowed`);
    await this.resume(() => this.runner.allowDeletions(job));
    return { id: job.id, deletions: job.deletions };
  }

  private async job(id: string): Promise<ExportJob> {
    const job = await this.jobs.find(jobId(id));
    if (!job || job.account !== this.config.caac.account) throw new NotFoundException(`no export ${id}`);
    return job;
  }

  private fileStillValid(job: ExportJob): void {
    if (!job.taskId || !job.expiresAt || job.expiresAt.getTime() <= Date.now()) {
      throw new ConflictException(`export ${job.id}'s file expired${job.expiresAt ? ` at ${job.expiresAt.toISOString()}` : ''}; start a new export`);
    }
  }

  private async resume(work: () => Promise<ExportJob>): Promise<ExportJob> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ExportAlreadyRunningError || error instanceof ExportStateError) throw new ConflictException(error.message);
      throw error;
    }
  }

  /** CAAC's export list, read once per CAAC_LIST_CACHE_MS for every caller (single flight). */
  private caacList(): Promise<ExportTask[]> {
    const now = Date.now();
    if (!this.listed || now - this.listed.at > CAAC_LIST_CACHE_MS) {
      const read = this.client.listExports(AbortSignal.timeout(this.config.caac.requestTimeoutMs));
      this.listed = { at: now, read };
      // A failed read is not kept: the next caller asks again.
      read.catch(() => {
        if (this.listed?.read === read) this.listed = undefined;
      });
    }
    return this.listed.read;
  }
}
