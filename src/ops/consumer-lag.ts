import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { withTimeout } from '../common/with-timeout';
import { BrokerProbe } from './broker.probe';
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
 * watermark.
 */
@Injectable()
export class ConsumerLag {
  private readonly stats: PipelineStatsRepository;
  private last: { at: number; lags: PartitionLag[] } | undefined;
  private refreshing: Promise<PartitionLag[]> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly broker: BrokerProbe,
    dataSource: DataSource,
  ) {
    this.stats = new PipelineStatsRepository(dataSource);
  }

  /** Computes the lag now; rejects when the broker or Postgres does not answer in time. */
  async measure(): Promise<PartitionLag[]> {
    this.refreshing ??= this.compute().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /**
   * The last lag measured, for probes that must not wait on a dependency (liveness); a measure
   * older than `maxAgeMs` starts a new one in the background. Undefined until one succeeded.
   */
  lastKnown(maxAgeMs: number, now = Date.now()): { at: number; lags: PartitionLag[] } | undefined {
    if (!this.last || now - this.last.at >= maxAgeMs) this.measure().catch(() => undefined);
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
