import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { withTimeout } from '../common/with-timeout';
import { BROKER_CACHE_MS, BrokerProbe } from './broker.probe';
import { PROBE_DATA_SOURCE } from './probe-data-source';
import { PipelineStatsRepository } from './pipeline-stats.repository';

/** The stored-offset read of one lag computation may take this long. */
const STORED_OFFSETS_TIMEOUT_MS = 2_000;

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Messages written to the partition and not yet stored in Postgres. */
  lag: number;
}

/**
 * Consumer lag as the truth has it: each source partition's high watermark (from the broker,
 * cached a few seconds) minus the next offset stored in Postgres with the staged changes (not
 * Kafka's committed offset, which only follows). A partition never stored counts from its low
 * watermark. Read through the probes' own pool, once per broker cache period however many ask.
 */
@Injectable()
export class ConsumerLag {
  private readonly stats: PipelineStatsRepository;
  private last: { at: number; lags: PartitionLag[] } | undefined;
  private refreshing: Promise<PartitionLag[]> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly broker: BrokerProbe,
    @Inject(PROBE_DATA_SOURCE) dataSource: DataSource,
  ) {
    this.stats = new PipelineStatsRepository(dataSource);
  }

  /**
   * The lag as of at most BROKER_CACHE_MS ago (the watermarks are no fresher); rejects when the
   * broker or Postgres does not answer in time.
   */
  async measure(now = Date.now()): Promise<PartitionLag[]> {
    if (this.last && now - this.last.at < BROKER_CACHE_MS) return this.last.lags;
    this.refreshing ??= this.compute().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /**
   * The last lag measured, for probes that must not wait on a dependency (liveness); a measure
   * older than `maxAgeMs` starts a new one in the background. Undefined until one succeeded.
   */
  lastKnown(maxAgeMs: number, now = Date.now()): { at: number; lags: PartitionLag[] } | undefined {
    if (!this.last || now - this.last.at >= maxAgeMs) this.measure(now).catch(() => undefined);
    return this.last;
  }

  private async compute(): Promise<PartitionLag[]> {
    const topics = this.config.kafka.sourceTopics.map((source) => source.topic);
    const [watermarks, stored] = await Promise.all([
      this.broker.highWatermarks(topics),
      withTimeout(this.stats.storedOffsets(this.config.kafka.groupId, topics), STORED_OFFSETS_TIMEOUT_MS, 'Postgres'),
    ]);
    const lags = watermarks.map(({ topic, partition, high, low }) => {
      const next = stored.get(`${topic}|${partition}`);
      const from = next === undefined || next < 0n ? low : next;
      return { topic, partition, lag: Number(high > from ? high - from : 0n) };
    });
    this.last = { at: Date.now(), lags };
    return lags;
  }
}
