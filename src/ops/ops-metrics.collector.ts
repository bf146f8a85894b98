import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { withTimeout } from '../common/with-timeout';
import { ImportScheduler } from '../importer/import-scheduler.service';
import { KEY_TYPES } from '../profile';
import { ConsumerLag } from './consumer-lag';
import { Metrics } from './metrics';
import { PipelineStatsRepository } from './pipeline-stats.repository';
import { ReadinessProbe } from './readiness.probe';
import { LivenessProbe } from './liveness.probe';

/** The Postgres reads of one scrape together may take this long; the gauges keep their last values otherwise. */
const SCRAPE_POSTGRES_TIMEOUT_MS = 2_000;

/**
 * Refreshes, at each scrape, the gauges whose truth lives elsewhere: the backlog and outbox in
 * Postgres (a few counter rows and index probes), consumer lag (watermarks cached a few seconds),
 * health as the probes see it. Every instance reports the same backlog, so a scrape of any one
 * of them, or an average over all, tells the truth. A dependency that does not answer in time
 * counts a collect failure and leaves its gauges as they were; the scrape itself always answers.
 */
@Injectable()
export class OpsMetricsCollector {
  private readonly stats: PipelineStatsRepository;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly lag: ConsumerLag,
    private readonly scheduler: ImportScheduler,
    private readonly readiness: ReadinessProbe,
    private readonly liveness: LivenessProbe,
    dataSource: DataSource,
  ) {
    this.stats = new PipelineStatsRepository(dataSource);
    this.metrics.flushIntervalSeconds.set(config.flushIntervalMs / 1000);
  }

  async collect(): Promise<void> {
    await Promise.all([this.collectPostgres(), this.collectLag(), this.collectHealth()]);
  }

  private async collectPostgres(): Promise<void> {
    try {
      const [backlog, inFlight, outbox] = await withTimeout(
        Promise.all([this.stats.backlog(KEY_TYPES), this.stats.inFlightAgeSeconds(this.config.caac.account), this.stats.outbox()]),
        SCRAPE_POSTGRES_TIMEOUT_MS,
        'Postgres',
      );
      for (const entry of backlog) {
        this.metrics.pendingContacts.set({ key_type: entry.keyType }, entry.contacts);
        this.metrics.pendingOldestAgeSeconds.set({ key_type: entry.keyType }, entry.oldestAgeSeconds);
      }
      this.metrics.importInFlightAgeSeconds.set(inFlight);
      this.metrics.deadLetterOutboxUnpublished.set(outbox.unpublished);
      this.metrics.deadLetterOutboxOldestAgeSeconds.set(outbox.oldestAgeSeconds);
    } catch (error) {
      this.failed('postgres', error);
    }
  }

  private async collectLag(): Promise<void> {
    try {
      const lags = await this.lag.measure();
      for (const { topic, partition, lag } of lags) this.metrics.consumerLag.set({ topic, partition: String(partition) }, lag);
    } catch (error) {
      this.failed('kafka', error);
    }
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
