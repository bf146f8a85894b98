import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { withTimeout } from '../common/with-timeout';
import { ImportScheduler } from '../importer/import-scheduler.service';
import { KEY_TYPES } from '../profile';
import { CachedRead } from './cached-read';
import { ConsumerLag, type PartitionLag } from './consumer-lag';
import { Metrics } from '../telemetry/metrics';
import { type BacklogStats, PipelineStatsRepository } from './pipeline-stats.repository';
import { PROBE_CACHE_MS, PROBE_DATA_SOURCE } from './probe-data-source';
import { ReadinessProbe } from './readiness.probe';
import { LivenessProbe } from './liveness.probe';

/** The Postgres reads of one refresh together may take this long; the gauges keep their last values otherwise. */
const SCRAPE_POSTGRES_TIMEOUT_MS = 2_000;

interface PostgresStats {
  backlog: BacklogStats[];
  inFlight: number;
  outbox: { unpublished: number; oldestAgeSeconds: number };
  exports: { newestCompleteAgeSeconds: number | null; lastEndedFailed: boolean | null; held: boolean };
}

/**
 * Refreshes, at each scrape, the gauges whose truth lives elsewhere: the backlog, outbox and
 * exports in Postgres (a few counter rows and index probes), consumer lag (watermarks cached a
 * few seconds), health as the probes see it. Every instance reports the same backlog and exports,
 * so a scrape of any one of them, or an average over all, tells the truth. Postgres is read
 * through the probes' own pool, once per PROBE_CACHE_MS however many scrape: a scrape storm
 * cannot take the pipeline's connections. A dependency that does not answer in time counts a
 * collect failure and leaves its gauges as they were; the scrape itself always answers.
 */
@Injectable()
export class OpsMetricsCollector {
  private readonly postgres: CachedRead<PostgresStats | undefined>;
  private readonly lags: CachedRead<PartitionLag[] | undefined>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: Metrics,
    lag: ConsumerLag,
    private readonly scheduler: ImportScheduler,
    private readonly readiness: ReadinessProbe,
    private readonly liveness: LivenessProbe,
    @Inject(PROBE_DATA_SOURCE) dataSource: DataSource,
  ) {
    const stats = new PipelineStatsRepository(dataSource);
    this.metrics.flushIntervalSeconds.set(config.flushIntervalMs / 1000);
    this.metrics.exportMaxStalenessSeconds.set(config.export.maxStalenessMs / 1000);
    // A failed read is counted once, when it fails, not once per scrape that shares it.
    this.postgres = new CachedRead(PROBE_CACHE_MS, () =>
      withTimeout(
        Promise.all([
          stats.backlog(KEY_TYPES),
          stats.inFlightAgeSeconds(config.caac.account),
          stats.outbox(),
          stats.exports(config.caac.account),
        ]).then(([backlog, inFlight, outbox, exports]) => ({ backlog, inFlight, outbox, exports })),
        SCRAPE_POSTGRES_TIMEOUT_MS,
        'Postgres',
      ).catch((error: unknown) => {
        this.failed('postgres', error);
        return undefined;
      }),
    );
    this.lags = new CachedRead(PROBE_CACHE_MS, () =>
      lag.measure().catch((error: unknown) => {
        this.failed('kafka', error);
        return undefined;
      }),
    );
  }

  async collect(): Promise<void> {
    await Promise.all([this.collectPostgres(), this.collectLag(), this.collectHealth()]);
  }

  private async collectPostgres(): Promise<void> {
    const stats = await this.postgres.get();
    if (!stats) return;
    for (const entry of stats.backlog) {
      this.metrics.pendingContacts.set({ key_type: entry.keyType }, entry.contacts);
      this.metrics.pendingOldestAgeSeconds.set({ key_type: entry.keyType }, entry.oldestAgeSeconds);
    }
    this.metrics.importInFlightAgeSeconds.set(stats.inFlight);
    this.metrics.deadLetterOutboxUnpublished.set(stats.outbox.unpublished);
    this.metrics.deadLetterOutboxOldestAgeSeconds.set(stats.outbox.oldestAgeSeconds);
    const { newestCompleteAgeSeconds, lastEndedFailed, held } = stats.exports;
    // Postgres is the truth: an instance that never ran an export (a standby) reports the same age.
    this.metrics.newestExportAt = newestCompleteAgeSeconds === null ? undefined : Date.now() - newestCompleteAgeSeconds * 1000;
    this.metrics.exportLastFailed.set(lastEndedFailed ? 1 : 0);
    this.metrics.exportHeld.set(held ? 1 : 0);
  }

  private async collectLag(): Promise<void> {
    const lags = await this.lags.get();
    for (const { topic, partition, lag } of lags ?? []) this.metrics.consumerLag.set({ topic, partition: String(partition) }, lag);
  }

  private async collectHealth(): Promise<void> {
    const live = this.liveness.check();
    for (const [check, result] of Object.entries(live.checks)) this.metrics.healthCheckUp.set({ probe: 'live', check }, result.status === 'up' ? 1 : 0);
    const ready = await this.readiness.check();
    for (const [check, result] of Object.entries(ready.details)) this.metrics.healthCheckUp.set({ probe: 'ready', check }, result.status === 'up' ? 1 : 0);
    this.metrics.importerUnhealthy.set({ reason: 'refused' }, this.scheduler.refusal() ? 1 : 0);
    this.metrics.importerUnhealthy.set({ reason: 'stalled' }, live.checks.importer.status === 'down' ? 1 : 0);
  }

  private failed(source: 'postgres' | 'kafka', error: unknown): void {
    this.metrics.metricsCollectFailures.inc({ source });
    this.logger.warn({ err: error, source }, 'metrics: could not refresh gauges; they keep their last values');
  }
}
