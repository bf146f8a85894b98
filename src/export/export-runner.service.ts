import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { Client, Pool } from 'pg';
import { DataSource } from 'typeorm';
import { CaacClient } from '../caac/caac.client';
import { CaacError } from '../caac/caac.errors';
import type { ExportTask } from '../caac/caac.types';
import { CLOCK, type Clock } from '../common/clock';
import { failureKind } from '../common/failure-kind';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { DeadLetterOutboxRepository } from '../dead-letter/dead-letter-outbox.repository';
import { KafkaAdapter } from '../kafka/kafka.adapter';
import { ImporterLeader } from '../importer/importer-leader.service';
import { Metrics } from '../telemetry/metrics';
import { CaacContactRepository, deploymentTag, IncompleteStagingError, MirrorAccountError, type DeletionPlan } from './caac-contact.repository';
import { ExportFileError, loadExportFile } from './export-file.loader';
import { ExportJobRepository, RUNNING_STATUSES, type ExportJob } from './export-job.repository';
import { KafkaSink } from './kafka.sink';

/** Polls of an export task back off from EXPORT_POLL_MS, doubling, to this. */
export const EXPORT_POLL_MAX_MS = 30_000;
/** An export task not done after this long is given up (CAAC's exports take minutes, not a day). */
export const EXPORT_TASK_MAX_MS = 6 * 60 * 60 * 1000;
/** Failed attempts of one job before it is failed for good; only transient failures are retried. */
export const EXPORT_MAX_ATTEMPTS = 5;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** How often an instance looks for a running job nobody works on (a crash, another instance's request). */
export const EXPORT_RESUME_CHECK_MS = 5_000;
/** Connections to the export database: one COPY, one reader, one spare. */
const EXPORT_POOL_MAX = 3;
/**
 * A statement on the export database ends after this: paging and counting take seconds at ten
 * million contacts. The COPY and the merge lift it for themselves (they take minutes).
 */
const EXPORT_STATEMENT_TIMEOUT_MS = 120_000;
/** Refused rows dead-lettered per outbox insert. */
const REFUSED_PAGE_ROWS = 500;
/** An export whose task CAAC created this long before our request was sent may still be ours. */
const ADOPT_SKEW_MS = 5_000;
const LOCK_CONNECT_TIMEOUT_MS = 5_000;

/**
 * A failure the next attempt cannot fix: the job ends as failed (or expired) at once. A file that
 * is not whole, CAAC refusing the request, the broker or Postgres refusing the data itself.
 */
function isDeterministic(error: unknown): boolean {
  if (error instanceof ExportFileError || error instanceof MirrorAccountError || failureKind(error) === 'deterministic') return true;
  return error instanceof CaacError && (error.code === 'permanent' || error.code === 'auth');
}

function isExpired(error: unknown): boolean {
  return error instanceof CaacError && error.reason === 'expired';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What the running export is doing, for health details. */
export interface ExportProgress {
  id: string;
  status: string;
  taskId: string | null;
  step: 'request' | 'poll' | 'download' | 'guard' | 'table' | 'topic' | 'finish' | 'waiting';
}

/** Why the export must wait for an operator before it deletes anything, or undefined when it need not. */
export function holdReason(plan: DeletionPlan, maxDeleteRatio: number): string | undefined {
  const mirrors = [plan.table && { name: 'caac_contact', ...plan.table }, plan.topic && { name: 'the export topic', ...plan.topic }].filter(
    (mirror): mirror is { name: string; size: number; deletions: number } => Boolean(mirror),
  );
  for (const mirror of mirrors) {
    if (mirror.size > 0 && mirror.deletions / mirror.size > maxDeleteRatio) {
      const share = ((100 * mirror.deletions) / mirror.size).toFixed(1);
      return `it would delete ${mirror.deletions} of the ${mirror.size} contacts of ${mirror.name} (${share} %, more than EXPORT_MAX_DELETE_RATIO ${maxDeleteRatio})`;
    }
  }
  const deletions = Math.max(0, ...mirrors.map((mirror) => mirror.deletions));
  if (deletions > 0 && plan.unattributed > 0) {
    return `it would delete ${deletions} contacts, and ${plan.unattributed} refused rows have no readable contact_id: any of those contacts may be among them`;
  }
  return undefined;
}

/**
 * Runs the account's exports one at a time (DESIGN §2, §4.2): request -> poll the task through the
 * client's status limiter, with backoff -> download the file while it is valid, streaming it
 * through the CSV parser into a staging table -> merge into `caac_contact` in one transaction ->
 * publish to the export topic -> record the outcome. Each step is recorded on the job row, so a
 * crash repeats only the unfinished steps: the table gets an export exactly once (the merge is one
 * transaction, and repeating it changes nothing), the topic at least once.
 *
 * Run by the account's importer leader (an instance that leads picks a recorded job up within
 * EXPORT_RESUME_CHECK_MS; a request made on it starts at once). One at a time, twice over: the
 * unique index `export_job_one_running` refuses a second running job, and only the instance holding
 * the account's export advisory lock works on it, so a leader that just took over waits for a
 * deposed one's export to end. Exports use the client's status bucket, never the import bucket, so
 * they cost imports no slot.
 */
@Injectable()
export class ExportRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly stopping = new AbortController();
  private readonly jobs: ExportJobRepository;
  private readonly outbox: DeadLetterOutboxRepository;
  private pool: Pool | undefined;
  private contactsRepository: CaacContactRepository | undefined;
  private sink: KafkaSink | undefined;
  private schemaReady = false;
  private active: Promise<void> | undefined;
  private again = false;
  private progress: ExportProgress | undefined;
  private heldJob: Pick<ExportJob, 'id' | 'deletions' | 'heldReason'> | undefined;
  /** Download links of files about to be downloaded, by job: never stored. */
  private readonly downloadUrls = new Map<string, string>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly client: CaacClient,
    private readonly dataSource: DataSource,
    private readonly kafka: KafkaAdapter,
    private readonly metrics: Metrics,
    private readonly scheduler: SchedulerRegistry,
    private readonly leader: ImporterLeader,
  ) {
    this.jobs = new ExportJobRepository(dataSource);
    this.outbox = new DeadLetterOutboxRepository(dataSource);
  }

  get account(): string {
    return this.config.caac.account;
  }

  /** False in an ingest-only instance (IMPORTER_ENABLED=false): it records requests, another instance runs them. */
  get enabled(): boolean {
    return this.config.importerEnabled;
  }

  /** The sinks an export delivers to, as recorded on the job. */
  get target(): string {
    return [this.config.export.tableEnabled ? 'table' : undefined, this.config.export.topic ? 'topic' : undefined].filter(Boolean).join('+');
  }

  running(): ExportProgress | undefined {
    return this.progress;
  }

  /** The export waiting for an operator to allow its deletions, as this instance last saw it. */
  held(): Pick<ExportJob, 'id' | 'deletions' | 'heldReason'> | undefined {
    return this.heldJob;
  }

  /** For readiness details; the metric is read from Postgres by every instance. */
  private showHeld(job: ExportJob | undefined): void {
    this.heldJob = job && { id: job.id, deletions: job.deletions, heldReason: job.heldReason };
  }

  async onApplicationBootstrap(): Promise<void> {
    void this.jobs
      .newestDone(this.account)
      .then((job) => {
        if (job && this.metrics.newestExportAt === undefined) this.metrics.newestExportAt = job.requestedAt.getTime();
      })
      .catch(() => undefined);
    void this.jobs
      .held(this.account)
      .then((job) => this.showHeld(job))
      .catch(() => undefined);
    if (!this.enabled) return;
    // A mirror of another account is refused at start, before anything could delete its contacts;
    // an export database that does not answer yet is tried again by the first export.
    await this.exportStore().catch((error: unknown) => {
      if (error instanceof MirrorAccountError) throw error;
      this.logger.warn({ err: error }, 'export database not reachable at start; exports try again');
    });
    if (this.config.export.schedule) {
      const job = CronJob.from({ cronTime: this.config.export.schedule, onTick: () => void this.requestScheduled(), start: true });
      this.scheduler.addCronJob('export', job);
      this.logger.info({ schedule: this.config.export.schedule }, 'exports scheduled');
    }
    this.scheduler.addInterval('export-resume', setInterval(() => this.kick(), EXPORT_RESUME_CHECK_MS));
    this.kick();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    if (this.scheduler.doesExist('cron', 'export')) this.scheduler.deleteCronJob('export');
    if (this.scheduler.doesExist('interval', 'export-resume')) this.scheduler.deleteInterval('export-resume');
    await this.active;
    await this.sink?.close();
    await this.pool?.end().catch(() => undefined);
  }

  /**
   * Records a new export (ExportAlreadyRunningError while one runs) and starts working on it. A
   * held export is superseded by it: the newer file answers whether the contacts are gone.
   */
  async request(fields: string[] | null): Promise<ExportJob> {
    const { job, superseded } = await this.jobs.create(this.account, fields, this.target);
    this.logger.info({ export_id: job.id, fields: fields?.length ?? 'all' }, 'export requested');
    if (superseded !== undefined) {
      this.metrics.exports.inc({ outcome: 'superseded' });
      this.showHeld(undefined);
      this.logger.info({ export_id: superseded, by: job.id }, 'held export superseded by a newer request');
    }
    this.kick();
    return job;
  }

  /** Delivers a done job's still-valid file again (ExportAlreadyRunningError while one runs). */
  async redeliver(job: ExportJob): Promise<ExportJob> {
    const reopened = await this.jobs.reopen(job.id, this.account);
    this.logger.info({ export_id: job.id }, 'export redelivery requested');
    this.kick();
    return reopened;
  }

  /** Takes a failed job up again from the step it failed at (ExportAlreadyRunningError while one runs). */
  async retry(job: ExportJob): Promise<ExportJob> {
    const resumed = await this.jobs.retry(job, this.account);
    this.logger.info({ export_id: job.id, status: resumed.status }, 'failed export retried');
    this.kick();
    return resumed;
  }

  /** Lets a held export delete what it would (ExportAlreadyRunningError while another one runs). */
  async allowDeletions(job: ExportJob): Promise<ExportJob> {
    const allowed = await this.jobs.allowDeletions(job.id, this.account, new Date(this.clock.now()));
    this.showHeld(undefined);
    this.logger.warn({ export_id: job.id, deletions: job.deletions }, 'held export allowed to delete');
    this.kick();
    return allowed;
  }

  /** Works on the running job now, when this instance leads and is not at it already; never throws. */
  kick(): void {
    if (!this.enabled || this.stopping.signal.aborted || !this.leader.isLeader()) return;
    if (this.active) {
      this.again = true;
      return;
    }
    this.active = this.drain()
      .catch((error: unknown) => {
        if (!this.stopping.signal.aborted) this.logger.warn({ err: error }, 'export runner failed; it tries again');
      })
      .finally(() => {
        this.active = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async requestScheduled(): Promise<void> {
    try {
      await this.request(null);
    } catch (error) {
      this.logger.warn({ err: error }, 'scheduled export not started');
    }
  }

  /** Under the account's export lock, runs jobs until none is left running. */
  private async drain(): Promise<void> {
    if (!(await this.jobs.running(this.account))) return;
    // TCP keepalive: the lock lasts as long as this connection, so a silently dropped one must be found out.
    const lock = new Client({ connectionString: this.config.database.url, connectionTimeoutMillis: LOCK_CONNECT_TIMEOUT_MS, application_name: 'caac-sync-export-lock', keepAlive: true });
    const lost = new AbortController();
    lock.on('error', () => lost.abort(new Error('export lock connection lost')));
    await lock.connect();
    try {
      const { rows } = await lock.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext('caac-sync.exporter'), hashtext($1)) AS locked`, [this.account]);
      if (!rows[0]!.locked) return;
      const signal = AbortSignal.any([this.stopping.signal, lost.signal]);
      await this.dropStaleStaging().catch((error: unknown) => this.logger.warn({ err: error }, 'staging tables of ended exports not dropped'));
      for (let job = await this.jobs.running(this.account); job && !signal.aborted; job = await this.jobs.running(this.account)) {
        await this.runJob(job, signal);
      }
    } finally {
      this.progress = undefined;
      await lock.end().catch(() => undefined);
    }
  }

  private async exportStore(): Promise<CaacContactRepository> {
    if (!this.contactsRepository) {
      this.pool = new Pool({
        connectionString: this.config.export.databaseUrl,
        max: EXPORT_POOL_MAX,
        application_name: 'caac-sync-export',
        statement_timeout: EXPORT_STATEMENT_TIMEOUT_MS,
        keepAlive: true,
      });
      this.pool.on('error', (error) => this.logger.warn({ err: error }, 'export database connection failed'));
      this.contactsRepository = new CaacContactRepository(this.pool, deploymentTag(this.account, this.config.database.url));
    }
    if (!this.schemaReady) {
      await this.contactsRepository.ensureSchema(this.account);
      this.schemaReady = true;
    }
    return this.contactsRepository;
  }

  /** Drops staging tables of jobs that no longer run or wait (a crash, a superseded export). */
  private async dropStaleStaging(): Promise<void> {
    const contacts = await this.exportStore();
    const keep = [await this.jobs.running(this.account), await this.jobs.held(this.account)].flatMap((job) => (job ? [job.id] : []));
    const dropped = await contacts.dropStagingExcept(keep);
    if (dropped.length > 0) this.logger.info({ export_ids: dropped }, 'staging tables of ended exports dropped');
  }

  /** Takes one job to an end (done, failed, expired), retrying transient failures with backoff. */
  private async runJob(initial: ExportJob, signal: AbortSignal): Promise<void> {
    let job = initial;
    while (!signal.aborted) {
      try {
        job = await this.step(job, signal);
        if (!RUNNING_STATUSES.includes(job.status)) return;
      } catch (error) {
        if (signal.aborted) return;
        if (isExpired(error)) {
          await this.finish(job, 'expired', `the export file expired before it was delivered (${describe(error)})`);
          return;
        }
        // The file is loaded again; this counts as an attempt, so it cannot go on for ever.
        if (error instanceof IncompleteStagingError) job = await this.jobs.update(job.id, { loadedAt: null });
        const attempts = job.attempts + 1;
        if (isDeterministic(error) || attempts >= EXPORT_MAX_ATTEMPTS) {
          await this.finish(job, 'failed', describe(error), attempts);
          return;
        }
        this.metrics.exports.inc({ outcome: 'retried' });
        job = await this.jobs.update(job.id, { attempts, lastError: describe(error) });
        const delayMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempts - 1));
        this.logger.warn({ err: error, export_id: job.id, attempt: attempts, retry_in_ms: delayMs }, 'export step failed; retrying');
        this.progress = { id: job.id, status: job.status, taskId: job.taskId, step: 'waiting' };
        await this.clock.sleep(delayMs, signal).catch(() => undefined);
      }
    }
  }

  /** Does the job's next step and returns the job as recorded after it. */
  private async step(job: ExportJob, signal: AbortSignal): Promise<ExportJob> {
    switch (job.status) {
      case 'requested':
        this.progress = { id: job.id, status: job.status, taskId: job.taskId, step: 'request' };
        return this.requestTask(job, signal);
      case 'running':
        this.progress = { id: job.id, status: job.status, taskId: job.taskId, step: 'poll' };
        return this.awaitFile(job, signal);
      case 'downloading':
        return this.deliver(job, signal);
      default:
        return job;
    }
  }

  private async requestTask(job: ExportJob, signal: AbortSignal): Promise<ExportJob> {
    let taskId: string;
    try {
      taskId = (await this.client.startExport(job.fields ?? undefined, signal)).taskId;
    } catch (error) {
      // The request may have been accepted without us seeing the answer: look for it in the list.
      if (!(error instanceof CaacError) || error.code !== 'outcome_unknown') throw error;
      const adopted = (await this.client.listExports(signal)).find((task) => Date.parse(task.createdAt ?? '') >= job.requestedAt.getTime() - ADOPT_SKEW_MS);
      if (!adopted) throw error;
      taskId = adopted.taskId;
    }
    this.logger.info({ export_id: job.id, task_id: taskId }, 'export accepted by CAAC');
    return this.jobs.update(job.id, { status: 'running', taskId, startedAt: new Date(this.clock.now()) });
  }

  private async awaitFile(job: ExportJob, signal: AbortSignal): Promise<ExportJob> {
    const since = (job.startedAt ?? job.requestedAt).getTime();
    let delayMs = this.config.export.pollMs;
    let task: ExportTask;
    for (;;) {
      task = await this.client.getExportTask(job.taskId!, signal);
      if (task.status === 'done') break;
      if (this.clock.now() - since > EXPORT_TASK_MAX_MS) throw new CaacError('permanent', `export task ${job.taskId} not done after ${EXPORT_TASK_MAX_MS} ms`);
      await this.clock.sleep(delayMs, signal);
      delayMs = Math.min(EXPORT_POLL_MAX_MS, delayMs * 2);
    }
    if (!task.result) throw new CaacError('permanent', `export task ${job.taskId} ended without a file`);
    // The signed link is not stored (it reaches every contact for a week): kept in memory for the
    // download that follows, and asked of CAAC again after a restart, a retry or a redelivery.
    this.downloadUrls.set(job.id, task.result.downloadUrl);
    return this.jobs.update(job.id, { status: 'downloading', rowCount: task.result.rowCount, expiresAt: new Date(task.result.expiresAt) });
  }

  /** Whether every sink of the job has its export. */
  private delivered(job: ExportJob): boolean {
    return (!this.config.export.tableEnabled || job.tableDoneAt !== null) && (!this.config.export.topic || job.topicDoneAt !== null);
  }

  /**
   * Download -> a whole file staged -> the deletion guard -> table -> topic -> done. Only a whole
   * file may change the mirror (DESIGN §4.2), and only within the deletion guard or once an
   * operator allowed it; a refused row keeps its contact's previous row and is dead-lettered.
   */
  private async deliver(initial: ExportJob, signal: AbortSignal): Promise<ExportJob> {
    let job = initial;
    // A crash after the last sink and before `done` has nothing left to deliver (the staging table may be gone).
    if (this.delivered(job)) return this.finish(job, 'done', null);
    const contacts = await this.exportStore();
    const progress = (step: ExportProgress['step']) => (this.progress = { id: job.id, status: job.status, taskId: job.taskId, step });

    if (job.loadedAt !== null && (await contacts.stagedCount(job.id)) !== job.rowsWritten + job.malformedRows) {
      job = await this.jobs.update(job.id, { loadedAt: null });
    }
    if (job.loadedAt === null) {
      progress('download');
      job = await this.load(job, contacts, signal);
    }
    if (job.deletionsAllowedAt === null) {
      progress('guard');
      const plan = await contacts.deletionPlan(job.id, { table: this.config.export.tableEnabled && job.tableDoneAt === null, topic: !!this.config.export.topic && job.topicDoneAt === null });
      const deletions = Math.max(plan.table?.deletions ?? 0, plan.topic?.deletions ?? 0);
      const reason = holdReason(plan, this.config.export.maxDeleteRatio);
      job = await this.jobs.update(job.id, { deletions, keptOnRefusal: plan.keptOnRefusal, ...(reason !== undefined && { status: 'held', heldReason: reason }) });
      if (reason !== undefined) {
        this.metrics.exports.inc({ outcome: 'held' });
        this.showHeld(job);
        this.logger.warn({ export_id: job.id, deletions, reason }, 'export held: allow it with POST /admin/exports/:id/allow-deletions, or request a newer export');
        this.progress = undefined;
        return job;
      }
      if (plan.keptOnRefusal > 0) this.metrics.exportKeptOnRefusal.inc(plan.keptOnRefusal);
    }
    if (this.config.export.tableEnabled && job.tableDoneAt === null) {
      progress('table');
      const merged = await contacts.mergeIntoTable(job.id, job.rowsWritten + job.malformedRows, job.id, job.requestedAt);
      this.metrics.exportRows.inc({ sink: 'table' }, merged.rows);
      job = await this.jobs.update(job.id, { tableRows: merged.rows, tableDoneAt: new Date(this.clock.now()) });
      this.logger.info({ export_id: job.id, rows: merged.rows, deleted: merged.deleted, kept_on_refusal: job.keptOnRefusal }, 'export merged into caac_contact');
    }
    if (this.config.export.topic && job.topicDoneAt === null) {
      progress('topic');
      this.sink ??= new KafkaSink(this.kafka, contacts, this.config.export.topic, this.config.export.kafkaBatchBytes, this.config.export.topicReplicationFactor);
      const published = await this.sink.publish(job.id, job.id, job.requestedAt, (sent) => this.metrics.exportRows.inc({ sink: 'topic' }, sent), signal);
      this.metrics.exportRows.inc({ sink: 'topic_tombstone' }, published.tombstones);
      job = await this.jobs.update(job.id, { topicRows: published.rows, topicTombstones: published.tombstones, topicDoneAt: new Date(this.clock.now()) });
      this.logger.info({ export_id: job.id, topic: this.config.export.topic, rows: published.rows, tombstones: published.tombstones }, 'export published');
    }
    progress('finish');
    // Done first, then the staging table: a crash between the two leaves a table to drop, never a delivered export to redo.
    const done = await this.finish(job, 'done', null);
    await contacts.dropStaging(job.id).catch((error: unknown) => this.logger.warn({ err: error, export_id: job.id }, 'staging table not dropped; it is dropped later'));
    return done;
  }

  /**
   * Downloads the file (its link asked of CAAC now) and stages it; accepts it only whole: a
   * header, a clean end, and rows loaded + refused = CAAC's row_count. Then dead-letters its
   * refused rows, which keep their contacts' previous rows.
   */
  private async load(initial: ExportJob, contacts: CaacContactRepository, signal: AbortSignal): Promise<ExportJob> {
    let job = initial;
    if (job.expiresAt && job.expiresAt.getTime() <= this.clock.now()) {
      throw new CaacError('permanent', `GET download: the file expired at ${job.expiresAt.toISOString()}`, { reason: 'expired' });
    }
    let url = this.downloadUrls.get(job.id);
    this.downloadUrls.delete(job.id);
    if (url === undefined) {
      const task = await this.client.getExportTask(job.taskId!, signal);
      if (!task.result) throw new CaacError('permanent', `export task ${job.taskId} no longer has a file`);
      url = task.result.downloadUrl;
    }
    const file = await this.client.downloadExport(url, signal);
    const loaded = await loadExportFile(contacts, job.id, file, signal);
    this.metrics.exportBytes.inc(loaded.bytes);
    const rowCount = job.rowCount;
    if (rowCount !== null && loaded.rows + loaded.refused !== rowCount) {
      throw new ExportFileError(
        `the file holds ${loaded.rows + loaded.refused} rows (${loaded.rows} read, ${loaded.refused} refused) where CAAC's row_count is ${rowCount}: it is cut short or padded`,
      );
    }
    await this.deadLetterRefused(job, contacts);
    job = await this.jobs.update(job.id, {
      rowsWritten: loaded.rows,
      malformedRows: loaded.refused,
      byteCount: loaded.bytes,
      sha256: loaded.sha256,
      columns: loaded.columns,
      loadedAt: new Date(this.clock.now()),
    });
    this.logger.info({ export_id: job.id, rows: loaded.rows, bytes: loaded.bytes, refused: loaded.refused }, 'export file staged');
    return job;
  }

  private async finish(job: ExportJob, status: 'done' | 'failed' | 'expired', lastError: string | null, attempts = job.attempts): Promise<ExportJob> {
    // A redelivery that fails leaves the job as it was, done: what it delivered before still stands.
    const redelivery = status !== 'done' && job.deliveredAt !== null;
    const now = new Date(this.clock.now());
    const ended = await this.jobs.update(job.id, {
      status: redelivery ? 'done' : status,
      finishedAt: now,
      lastError: redelivery ? `redelivery ${status}: ${lastError ?? ''}` : lastError,
      attempts,
      ...(status === 'done' && job.deliveredAt === null && { deliveredAt: now }),
    });
    this.metrics.exports.inc({ outcome: status });
    if (status === 'done') {
      this.metrics.newestExportAt = Math.max(this.metrics.newestExportAt ?? 0, job.requestedAt.getTime());
      this.logger.info({ export_id: job.id, rows: job.rowsWritten }, 'export done');
    } else {
      this.logger.warn({ export_id: job.id, status, reason: lastError, redelivery }, 'export ended without delivery; the mirror is as it was');
      if (this.contactsRepository) await this.contactsRepository.dropStaging(job.id).catch(() => undefined);
    }
    this.progress = undefined;
    return ended;
  }

  /** The file's refused rows, from its staging table, as dead letters (stage export), a page at a time. */
  private async deadLetterRefused(job: ExportJob, contacts: CaacContactRepository): Promise<void> {
    for (let page = await contacts.refusedPage(job.id, 0, REFUSED_PAGE_ROWS); page.length > 0; page = await contacts.refusedPage(job.id, page[page.length - 1]!.line, REFUSED_PAGE_ROWS)) {
      await this.outbox.add(
        this.dataSource.manager,
        page.map((row) => ({
          stage: 'export' as const,
          key: row.contactId,
          value: row.content,
          errorClass: 'MalformedExportRow',
          message: `export ${job.id}, record ${row.line}: ${row.reason}`,
          ...(job.taskId ? { taskId: job.taskId } : {}),
          at: this.clock.now(),
        })),
      );
      this.metrics.exportMalformedRows.inc(page.length);
    }
  }

}
