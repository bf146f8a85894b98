import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ImporterLeader } from '../importer/importer-leader.service';
import { Metrics } from '../telemetry/metrics';
import { ReconcileRepository, type ReconcileOutcome } from './reconcile.repository';

/** How often the leader looks for a complete export not yet learned: small next to an export's minutes. */
export const RECONCILE_CHECK_MS = 1_000;
/** After a failed run: from two checks, doubling, at most five minutes (a failure may need an operator). */
export const RECONCILE_RETRY_MAX_MS = 300_000;

/** How long reconcile waits after `failures` failed runs in a row before it tries again. */
export function reconcileRetryDelayMs(failures: number): number {
  return Math.min(RECONCILE_RETRY_MAX_MS, RECONCILE_CHECK_MS * 2 ** Math.min(failures, 20));
}

/**
 * Teaches the importer what CAAC holds, from each complete export (issue 13). One-way: the export
 * runner writes caac_contact and marks its job done; this reads the job rows and the table, never
 * the runner. On the importer leader only, under an advisory lock, chunk by chunk (a crash leaves
 * what was learned; the job is marked reconciled, with its drift summary, only at the end). Needs caac_contact in the service's own
 * database (EXPORT_DATABASE_URL unset), since it joins it with contact_state in SQL.
 */
@Injectable()
export class ReconcileService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly repository = new ReconcileRepository();
  private timer: NodeJS.Timeout | undefined;
  private active: Promise<void> | undefined;
  /** Failed runs in a row, and the time (epoch ms) before which no run starts: errors back off. */
  private failures = 0;
  private retryAt = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly dataSource: DataSource,
    private readonly leader: ImporterLeader,
    private readonly metrics: Metrics,
  ) {}

  /** Whether exports can be learned from here. */
  get enabled(): boolean {
    return this.config.importerEnabled && this.config.export.tableEnabled && this.config.export.databaseUrl === this.config.database.url;
  }

  onApplicationBootstrap(): void {
    if (!this.config.importerEnabled) return;
    if (!this.enabled) {
      this.logger.warn({}, 'reconcile is off: it needs the caac_contact table in the service database (EXPORT_DATABASE_URL unset, EXPORT_TABLE_ENABLED on)');
      return;
    }
    this.timer = setInterval(() => {
      if (this.active || !this.leader.isLeader() || Date.now() < this.retryAt) return;
      this.active = this.runOnce()
        .then(() => {
          this.failures = 0;
        })
        .catch((error: unknown) => {
          this.failures++;
          const retryInMs = reconcileRetryDelayMs(this.failures);
          this.retryAt = Date.now() + retryInMs;
          this.logger.warn({ err: error, failuresInARow: this.failures, retryInMs }, 'reconcile failed; will retry');
        })
        .finally(() => (this.active = undefined));
    }, RECONCILE_CHECK_MS);
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.active;
  }

  /** Learns the newest complete export not yet learned; returns its id and outcome, if there was one. */
  async runOnce(): Promise<{ exportId: string; outcome: ReconcileOutcome | { superseded: true } } | undefined> {
    const started = Date.now();
    // One connection for the whole run: the advisory lock and learn's temporary table live in its session.
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    let done: { exportId: string; outcome: ReconcileOutcome | { superseded: true } } | undefined;
    try {
      const db = runner.manager;
      if (!(await this.repository.tryLock(db))) return undefined;
      try {
        const job = await this.repository.nextExport(db, this.config.caac.account);
        if (!job) return undefined;
        await this.repository.markSuperseded(db, this.config.caac.account, job.id);
        if (!(await this.repository.tableHolds(db, job.id))) {
          await this.repository.markReconciled(db, job.id, { superseded: true });
          return { exportId: job.id, outcome: { superseded: true } };
        }
        // The API's lag, not the readiness threshold: an export may show CAAC as it was this long before it was requested.
        const cutoffMs = job.exportedAt.getTime() - this.config.caac.exportMaxLagMs;
        const identityKeys = await this.repository.learnIdentity(db, job.id, cutoffMs);
        const columns = await this.repository.fileColumns(db, job);
        const learned = await this.repository.learn(db, job, columns, cutoffMs);
        await runner.startTransaction();
        try {
          const drift = await this.repository.summarise(db, job.id);
          const requeue = this.config.export.driftPolicy === 'crm-wins' ? await this.repository.requeueDrift(db, job.id) : { requeued: 0, newerKnown: 0 };
          const outcome: ReconcileOutcome = { ...learned, ...drift, ...requeue, identityKeys };
          await this.repository.markReconciled(db, job.id, outcome);
          await runner.commitTransaction();
          done = { exportId: job.id, outcome };
        } catch (error) {
          await runner.rollbackTransaction().catch(() => undefined);
          throw error;
        }
      } finally {
        await this.repository.unlock(db).catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
    if (!done) return undefined;
    const outcome = done.outcome;
    if (!('superseded' in outcome)) {
      this.metrics.reconciledExports.inc();
      this.metrics.driftFields.reset();
      for (const [field, count] of Object.entries(outcome.driftFields)) this.metrics.driftFields.set({ field }, count);
      this.metrics.driftContacts.set(outcome.driftContacts);
      this.logger.info({ export_id: done.exportId, ...outcome, ms: Date.now() - started }, 'export reconciled');
    }
    return done;
  }
}
