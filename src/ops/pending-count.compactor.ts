import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CLOCK, type Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { PipelineStatsRepository } from './pipeline-stats.repository';

/**
 * How often the pending count's delta rows are folded: each ingest batch and claim adds one or
 * two, so a few thousand at most accumulate between two compactions at full ingest speed, and
 * summing them per scrape stays cheap.
 */
const COMPACT_EVERY_MS = 10_000;

/** Keeps pending_contact_count small (see the migration that made it); every instance takes turns. */
@Injectable()
export class PendingCountCompactor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly stats: PipelineStatsRepository;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
    dataSource: DataSource,
  ) {
    this.stats = new PipelineStatsRepository(dataSource);
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      await this.clock.sleep(COMPACT_EVERY_MS, this.stopping.signal).catch(() => undefined);
      if (this.stopping.signal.aborted) break;
      // A failure (Postgres away) only leaves more rows to sum; the next round folds them.
      await this.stats.compactPendingCount().catch((error: Error) => this.logger.warn({ err: error }, 'could not compact the pending count'));
    }
  }
}
