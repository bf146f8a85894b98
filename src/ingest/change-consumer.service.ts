import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CLOCK, type Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { DeadLetterPublisher } from '../dead-letter/dead-letter.publisher';
import { BatchConsumer, type BatchContext, type ConsumedBatch, type ConsumeLoopState, type PartitionState } from '../kafka/batch-consumer';
import { KafkaAdapter, type MessageProducer } from '../kafka/kafka.adapter';
import type { ConsumerStatus } from '../ops/kafka.health';
import { Metrics } from '../ops/metrics';
import { coalesceBatch } from './batch-coalescer';
import { ConsumerOffsetRepository } from './consumer-offset.repository';
import { PendingChangeRepository } from '../store/pending-change.repository';
import { TopicDecoders } from './topic-decoders';

/** A failed batch (Postgres or the dead-letter topic down) is retried after this, doubling to the max. */
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 10_000;

/**
 * Reads the source topics in batches and makes each batch durable in Postgres: the batch's
 * coalesced changes and its partition offset in one transaction (invariant 1), bad events on the
 * dead-letter topic before the offset moves (invariant 8). A provider with lifecycle hooks rather
 * than a Nest microservice transport: the transport hands over one message at a time and hides
 * offset control, which this consumer needs.
 */
@Injectable()
export class ChangeConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown, ConsumerStatus {
  private consumer: BatchConsumer | undefined;
  private producer: MessageProducer | undefined;
  private deadLetters: DeadLetterPublisher | undefined;
  private readonly offsets: ConsumerOffsetRepository;
  private readonly pending = new PendingChangeRepository();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly kafka: KafkaAdapter,
    private readonly dataSource: DataSource,
    private readonly decoders: TopicDecoders,
    private readonly metrics: Metrics,
  ) {
    this.offsets = new ConsumerOffsetRepository(dataSource);
  }

  joined(): boolean {
    return this.consumer?.joined() ?? false;
  }

  details(): Record<string, unknown> {
    return this.consumer?.status() ?? { joined: false };
  }

  partitionStates(): PartitionState[] {
    return this.consumer?.partitionStates() ?? [];
  }

  loopState(): ConsumeLoopState {
    return this.consumer?.loopState() ?? { running: false, lastActivityAt: null, inWork: 0 };
  }

  async onApplicationBootstrap(): Promise<void> {
    const { kafka } = this.config;
    // Source topics belong to the CRM side: a missing one is a configuration error, not something
    // to create with guessed partitions.
    const missing = await this.kafka.missingTopics(kafka.sourceTopics.map((source) => source.topic));
    if (missing.length > 0) throw new Error(`SOURCE_TOPICS: topic(s) ${missing.join(', ')} do not exist on ${kafka.brokers.join(',')}`);
    await this.kafka.ensureTopics([{ topic: kafka.dlqTopic }]);
    this.producer = await this.kafka.createProducer();
    this.deadLetters = new DeadLetterPublisher(this.producer, kafka.dlqTopic);
    this.consumer = new BatchConsumer(
      this.kafka,
      {
        groupId: kafka.groupId,
        topics: kafka.sourceTopics.map((source) => source.topic),
        maxBytesPerPartition: kafka.maxBytesPerPartition,
        // Memory: a partition holds at most the batch being stored and the one fetched behind it,
        // and one fetch brings at most two partitions' worth (the broker takes partitions in turn).
        maxBytes: kafka.maxBytesPerPartition * 2,
        partitionsConsumedConcurrently: kafka.partitionsConcurrency,
        pauseAfterMs: kafka.pauseAfterMs,
        sessionTimeoutMs: kafka.sessionTimeoutMs,
        startOffsets: (partitions) => this.offsets.find(kafka.groupId, partitions),
      },
      this.logger,
    );
    await this.consumer.start((batch, context) => this.stageWithRetry(batch, context));
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Stop fetching and let the batch in hand finish its transaction; then the producer can go.
    await this.consumer?.stop();
    await this.producer?.disconnect();
  }

  private async stageWithRetry(batch: ConsumedBatch, context: BatchContext): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.stage(batch);
      } catch (error) {
        if (!context.isActive()) throw error; // the partition moved on or we are stopping: leave it
        this.metrics.ingestRetries.inc();
        const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
        this.logger.warn(
          { err: error, topic: batch.topic, partition: batch.partition, attempt, retryInMs: delay },
          'could not stage batch; retrying',
        );
        await this.clock.sleep(delay);
        await context.heartbeat();
      }
    }
  }

  /** One transaction: lock the partition's offset, skip what it already has, merge, move the offset. */
  private async stage(batch: ConsumedBatch): Promise<void> {
    const { groupId } = this.config.kafka;
    const started = this.clock.now();
    const decode = this.decoders.forTopic(batch.topic);
    const outcome = await this.dataSource.transaction(async (db) => {
      const { next, floor } = await this.offsets.lock(db, groupId, batch.topic, batch.partition);
      const fresh = next === null ? batch.messages : batch.messages.filter((message) => BigInt(message.offset) >= next);
      const redelivered = batch.messages.length - fresh.length;
      if (fresh.length === 0) return { redelivered, result: undefined };

      const result = coalesceBatch(batch.topic, batch.partition, fresh, decode, this.clock.now(), floor);
      // Dead letters first: if the topic cannot take them, the transaction rolls back and the
      // whole batch comes again, so no bad event is skipped silently.
      await this.deadLetters!.publish(result.deadLetters);
      await this.pending.merge(db, result.changes);
      const last = BigInt(fresh[fresh.length - 1]!.offset);
      await this.offsets.store(db, groupId, batch.topic, batch.partition, last + 1n, result.floor);
      return { redelivered, result };
    });

    const { topic } = batch;
    if (outcome.redelivered > 0) this.metrics.ingestEvents.inc({ topic, outcome: 'redelivered' }, outcome.redelivered);
    if (outcome.result) {
      const { counts, deadLetters } = outcome.result;
      this.metrics.ingestEvents.inc({ topic, outcome: 'consumed' }, counts.consumed);
      this.metrics.ingestEvents.inc({ topic, outcome: 'staged' }, counts.staged);
      this.metrics.ingestEvents.inc({ topic, outcome: 'duplicate' }, counts.duplicate);
      this.metrics.ingestEvents.inc({ topic, outcome: 'coalesced' }, counts.coalesced);
      this.metrics.ingestEvents.inc({ topic, outcome: 'skipped' }, counts.skipped);
      this.metrics.ingestEvents.inc({ topic, outcome: 'dead_lettered' }, counts.deadLettered);
      for (const letter of deadLetters) this.metrics.deadLetters.inc({ stage: letter.stage });
    }
    this.metrics.ingestBatchSize.observe(batch.messages.length);
    this.metrics.ingestBatchSeconds.observe((this.clock.now() - started) / 1000);
  }
}
