import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CLOCK, type Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { KafkaAdapter, type MessageProducer } from '../kafka/kafka.adapter';
import { Metrics } from '../telemetry/metrics';
import { DeadLetterOutboxRepository } from './dead-letter-outbox.repository';
import { openDeadLetterTopic } from './dead-letter-topic';
import { DeadLetterPublisher } from './dead-letter.publisher';

/**
 * How often the outbox is checked, and how many letters are taken per round (one transaction);
 * the publisher splits a round into requests the topic takes.
 */
const RELAY_INTERVAL_MS = 500;
const RELAY_BATCH = 500;
/**
 * How often published letters past DEAD_LETTER_RETENTION_MS are deleted, and how many per
 * statement: retention is counted in days, so a minute late costs nothing; every instance prunes
 * (a delete skips rows another instance holds), so no leader is needed.
 */
export const PRUNE_INTERVAL_MS = 60_000;
const PRUNE_BATCH = 1_000;

/**
 * Moves dead letters from the Postgres outbox to the dead-letter topic, in every instance, and
 * deletes published ones once they are older than DEAD_LETTER_RETENTION_MS (personal data is kept
 * only as long as needed; the topic has its own retention).
 */
@Injectable()
export class DeadLetterRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly outbox: DeadLetterOutboxRepository;
  private producer: MessageProducer | undefined;
  private publisher: DeadLetterPublisher | undefined;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private nextPruneAt = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly kafka: KafkaAdapter,
    dataSource: DataSource,
    private readonly metrics: Metrics,
  ) {
    this.outbox = new DeadLetterOutboxRepository(dataSource);
  }

  async onApplicationBootstrap(): Promise<void> {
    const limits = await openDeadLetterTopic(this.kafka, this.config.kafka);
    this.producer = await this.kafka.createProducer();
    this.publisher = new DeadLetterPublisher(this.producer, this.config.kafka.dlqTopic, limits);
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await this.producer?.disconnect();
  }

  /** Publishes until the outbox is empty; resolves with how many letters went out. */
  async flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const sent = await this.outbox.relay(RELAY_BATCH, (entries) =>
        this.publisher!.publishRecords(entries.map((entry) => ({ key: entry.key, value: entry.value, headers: entry.headers }))),
      );
      total += sent;
      if (sent < RELAY_BATCH) return total;
    }
  }

  /** Deletes published letters past their retention; resolves with how many went. */
  async prune(): Promise<number> {
    const pruned = await this.outbox.prunePublished(this.config.deadLetterRetentionMs, PRUNE_BATCH);
    if (pruned > 0) this.logger.info({ pruned, retentionMs: this.config.deadLetterRetentionMs }, 'deleted published dead letters past their retention');
    return pruned;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.flush();
      } catch (error) {
        this.metrics.deadLetterRelayFailures.inc();
        this.logger.warn({ err: error }, 'could not relay dead letters; will retry');
      }
      if (this.clock.now() >= this.nextPruneAt) {
        this.nextPruneAt = this.clock.now() + PRUNE_INTERVAL_MS;
        await this.prune().catch((error: unknown) => this.logger.warn({ err: error }, 'could not delete old dead letters; will retry'));
      }
      await this.clock.sleep(RELAY_INTERVAL_MS, this.stopping.signal).catch(() => undefined);
    }
  }
}
