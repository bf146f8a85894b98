import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CLOCK, type Clock } from '../common/clock';
import { describeFailure, failureKind } from '../common/failure-kind';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import type { DeadLetter } from '../dead-letter/dead-letter';
import { openDeadLetterTopic } from '../dead-letter/dead-letter-topic';
import { DeadLetterPublisher } from '../dead-letter/dead-letter.publisher';
import { BatchConsumer, type BatchContext, type ConsumedBatch, type ConsumeLoopState, type PartitionState, type TopicPartitionOffset } from '../kafka/batch-consumer';
import { KafkaAdapter, type MessageProducer } from '../kafka/kafka.adapter';
import type { ConsumerStatus } from './consumer-status';
import { Metrics } from '../telemetry/metrics';
import { coalesceBatch, type CoalescedBatch, type KeyChange } from './batch-coalescer';
import { ConsumerOffsetRepository } from './consumer-offset.repository';
import { planPartitionStarts } from './start-offsets';
import { DeadLetterSummary } from './dead-letter-summary';
import { didYouMean } from '../common/did-you-mean';
import { PendingChangeRepository } from '../store/pending-change.repository';
import type { Decoder } from './decoders/decode-result';
import { TopicDecoders } from './topic-decoders';

/** A failed batch (Postgres or the dead-letter topic down) is retried after this, doubling to the max. */
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 10_000;
/**
 * Retries of one batch logged one by one; after that one line every this many, so an outage of
 * hours writes a bounded number of lines (the retry metric counts every one).
 */
const RETRY_LOG_FIRST = 5;
const RETRY_LOG_EVERY = 30;

/** Postgres refused the data of a batch (a deterministic failure): its events are isolated. */
class StorageRefused extends Error {
  constructor(readonly refusal: unknown) {
    super('Postgres refused the data of the batch');
    this.name = 'StorageRefused';
  }
}

/** A batch's event counts; `storageRejected` is the part of `deadLettered` that Postgres refused. */
type Counts = CoalescedBatch['counts'] & { storageRejected?: number };

/** What staging a batch did: counted, dead-lettered and logged once it is stored. */
interface StageOutcome {
  redelivered: number;
  counts?: Counts;
  deadLetters: DeadLetter[];
  keyChanges: KeyChange[];
}

/** What the parts of an isolated batch add up to, carried from one part to the next. */
interface PartState {
  floor: number;
  counts: Counts;
  deadLetters: DeadLetter[];
  keyChanges: KeyChange[];
}

/**
 * Reads the source topics in batches and makes each batch durable in Postgres: the batch's
 * coalesced changes and its partition offset in one transaction (invariant 1), bad events on the
 * dead-letter topic before the offset moves (invariant 8). Nest runs the consumer as a transport
 * strategy of the hybrid application (KafkaBatchTransport, started after the bootstrap hooks and
 * stopped before the shutdown hooks); IngestBatchController hands each batch to `stageWithRetry`.
 */
@Injectable()
export class ChangeConsumer implements OnApplicationBootstrap, OnApplicationShutdown, ConsumerStatus {
  private consumer: BatchConsumer | undefined;
  private producer: MessageProducer | undefined;
  private deadLetters: DeadLetterPublisher | undefined;
  private readonly offsets: ConsumerOffsetRepository;
  private readonly pending = new PendingChangeRepository();
  private readonly deadLetterSummary: DeadLetterSummary;

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
    this.deadLetterSummary = new DeadLetterSummary(logger);
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
    const existing = new Set(await this.kafka.topicNames());
    const missing = kafka.sourceTopics.map((source) => source.topic).filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      const named = missing.map((topic) => `${topic}${didYouMean(topic, [...existing].filter((name) => !name.startsWith('__')))}`);
      throw new Error(`SOURCE_TOPICS: topic(s) ${named.join(', ')} do not exist on ${kafka.brokers.join(',')}`);
    }
    const limits = await openDeadLetterTopic(this.kafka, kafka);
    this.producer = await this.kafka.createProducer();
    this.deadLetters = new DeadLetterPublisher(this.producer, kafka.dlqTopic, limits);
  }

  /** The consumer of the source topics; KafkaBatchTransport starts and stops it. */
  createBatchConsumer(): BatchConsumer {
    const { kafka } = this.config;
    this.consumer = new BatchConsumer(
      this.kafka,
      {
        groupId: kafka.groupId,
        topics: kafka.sourceTopics.map((source) => source.topic),
        maxBytesPerPartition: kafka.maxBytesPerPartition,
        // Memory: a partition holds at most the batch being stored and the one fetched behind it,
        // and one fetch brings at most two partitions' worth (the broker takes partitions in turn).
        maxBytes: kafka.maxBytesPerPartition * 2,
        maxBatchMessages: kafka.maxBatchEvents,
        partitionsConsumedConcurrently: kafka.partitionsConcurrency,
        pauseAfterMs: kafka.pauseAfterMs,
        sessionTimeoutMs: kafka.sessionTimeoutMs,
        startOffsets: (partitions) => this.startOffsets(partitions),
      },
      this.logger,
    );
    return this.consumer;
  }

  /**
   * Where each newly assigned partition starts (see planPartitionStarts), one log line a partition
   * saying where and why. Without the broker's answer, only the stored offsets are sought, and the
   * others start where kafkajs would: the group's committed offset, else the earliest.
   */
  private async startOffsets(partitions: Array<{ topic: string; partition: number }>): Promise<TopicPartitionOffset[]> {
    const { groupId, startWithoutStoredOffset } = this.config.kafka;
    const stored = await this.offsets.find(groupId, partitions);
    if (stored.length === partitions.length) {
      for (const position of stored) this.logger.info({ ...position, from: 'postgres' }, 'partition starts at its stored offset');
      return stored;
    }
    const topics = [...new Set(partitions.map((p) => p.topic))];
    const broker = await this.kafka.partitionStarts(groupId, topics).catch((error: Error) => {
      this.logger.warn({ err: error, topics }, 'could not read where partitions without a stored offset start; they start at the group\'s committed offset, else the earliest');
      return undefined;
    });
    if (!broker) return stored;
    const starts = planPartitionStarts(partitions, stored, broker, startWithoutStoredOffset);
    for (const { topic, partition, offset, from, why, skipsRetained } of starts) {
      const line = { topic, partition, offset, from, why };
      if (skipsRetained) this.logger.warn(line, 'partition starts at the group\'s committed offset, skipping earlier messages');
      else this.logger.info(line, from === 'postgres' ? 'partition starts at its stored offset' : `partition starts at the ${from} offset`);
    }
    return starts.map(({ topic, partition, offset }) => ({ topic, partition, offset }));
  }

  async onApplicationShutdown(): Promise<void> {
    // TRICKY: Nest closes the transport (stop fetching, the batch in hand finishes its transaction
    // and sends its dead letters) between the before-shutdown and the shutdown hooks; only then
    // may the producer go, so this is a shutdown hook, not a before-shutdown one.
    await this.producer?.disconnect();
    this.deadLetterSummary.flush();
  }

  /**
   * Retries a batch until it is stored. Only transient failures get here (Postgres or the broker
   * away, timeouts): a batch Postgres refuses for its data is isolated inside `stage`, and the
   * dead-letter publisher makes every letter fit, so no deterministic failure loops here.
   */
  async stageWithRetry(batch: ConsumedBatch, context: BatchContext): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.stage(batch);
      } catch (error) {
        if (!context.isActive()) throw error; // the partition moved on or we are stopping: leave it
        this.metrics.ingestRetries.inc();
        const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
        if (attempt < RETRY_LOG_FIRST || attempt % RETRY_LOG_EVERY === 0) {
          this.logger.warn(
            { err: error, kind: failureKind(error), topic: batch.topic, partition: batch.partition, attempt, retryInMs: delay },
            'could not stage batch; retrying',
          );
        }
        // The stop signal ends the wait: the batch is left to be read again, nothing is lost.
        await this.clock.sleep(delay, context.signal).catch(() => undefined);
        if (!context.isActive()) throw error;
        await context.heartbeat();
      }
    }
  }

  /**
   * One transaction: lock the partition's offset, skip what it already has, merge, move the offset,
   * then write the batch's dead letters: if the topic cannot take them, the transaction rolls back
   * and the whole batch comes again, so no bad event is skipped silently. The happy path is one
   * merge per batch; only a batch Postgres refuses for its data goes the slow way, `stageIsolating`.
   */
  private async stage(batch: ConsumedBatch): Promise<void> {
    const started = this.clock.now();
    // Before the transaction: a registry outage (transient) fails the batch here, holding no lock,
    // and stageWithRetry tries it again; the offset does not move, so nothing is skipped.
    const decode = await this.decoders.prepare(batch.topic, batch.messages.map((message) => message.value));
    let outcome: StageOutcome;
    try {
      outcome = await this.dataSource.transaction(async (db) => {
        const { fresh, redelivered, floor } = await this.lockFresh(db, batch);
        if (fresh.length === 0) return { redelivered, deadLetters: [], keyChanges: [] };
        const result = coalesceBatch(batch.topic, batch.partition, fresh, decode, this.clock.now(), floor);
        try {
          await this.pending.merge(db, result.changes);
          await this.storeOffset(db, batch, fresh, result.floor);
        } catch (error) {
          throw failureKind(error) === 'deterministic' ? new StorageRefused(error) : error;
        }
        await this.deadLetters!.publish(result.deadLetters);
        return { redelivered, counts: result.counts, deadLetters: result.deadLetters, keyChanges: result.keyChanges };
      });
    } catch (error) {
      if (!(error instanceof StorageRefused)) throw error;
      this.metrics.ingestIsolations.inc({ topic: batch.topic });
      this.logger.warn(
        { err: error.refusal, topic: batch.topic, partition: batch.partition, messages: batch.messages.length },
        'Postgres refused the data of a batch; isolating the events it refuses',
      );
      outcome = await this.stageIsolating(batch, decode);
      // One line per batch, not per event: the dead letters are the record of each.
      this.logger.warn(
        { topic: batch.topic, partition: batch.partition, refused: outcome.counts?.storageRejected ?? 0 },
        'isolated the events Postgres refused; dead-lettered them and staged the rest',
      );
    }
    this.count(batch, outcome, started);
  }

  /**
   * The batch again, in parts, each in its own savepoint: a part Postgres refuses for its data is
   * split in halves until the single events it refuses are found; those are dead-lettered
   * (`validate`, `StorageRejected`, the SQLSTATE and no value), the rest is staged, and the offset
   * moves past the batch, all in one transaction (invariant 1). Parts go in offset order and carry
   * the partition's snapshot floor from one to the next, so every change gets the stamp it would
   * have had in one piece (an event id repeated in two parts is merged twice: the same values, so
   * nothing changes). A batch with k refused events costs about k * log2(batch) statements.
   */
  private async stageIsolating(batch: ConsumedBatch, decode: Decoder): Promise<StageOutcome> {
    return this.dataSource.transaction(async (db) => {
      const { fresh, redelivered, floor } = await this.lockFresh(db, batch);
      if (fresh.length === 0) return { redelivered, deadLetters: [], keyChanges: [] };
      const state: PartState = {
        floor,
        counts: { consumed: 0, staged: 0, coalesced: 0, duplicate: 0, skipped: 0, deadLettered: 0, keyChanged: 0 },
        deadLetters: [],
        keyChanges: [],
      };
      await this.stagePart(db, batch, fresh, state, decode);
      // The last parts may have been refused: the offset still moves past the whole batch.
      await this.storeOffset(db, batch, fresh, state.floor);
      await this.deadLetters!.publish(state.deadLetters);
      return { redelivered, counts: state.counts, deadLetters: state.deadLetters, keyChanges: state.keyChanges };
    });
  }

  private async stagePart(
    db: EntityManager,
    batch: ConsumedBatch,
    messages: ConsumedBatch['messages'],
    state: PartState,
    decode: Decoder,
  ): Promise<void> {
    const now = this.clock.now();
    const result = coalesceBatch(batch.topic, batch.partition, messages, decode, now, state.floor);
    await db.query('SAVEPOINT caac_sync_part');
    try {
      await this.pending.merge(db, result.changes);
      // The offset too: a source time the offset row cannot hold is the event's fault as well.
      await this.storeOffset(db, batch, messages, result.floor);
      await db.query('RELEASE SAVEPOINT caac_sync_part');
    } catch (error) {
      await db.query('ROLLBACK TO SAVEPOINT caac_sync_part');
      await db.query('RELEASE SAVEPOINT caac_sync_part');
      if (failureKind(error) !== 'deterministic') throw error;
      if (messages.length > 1) {
        const half = Math.ceil(messages.length / 2);
        await this.stagePart(db, batch, messages.slice(0, half), state, decode);
        await this.stagePart(db, batch, messages.slice(half), state, decode);
        return;
      }
      const [message] = messages as [ConsumedBatch['messages'][number]];
      state.counts.consumed++;
      state.counts.deadLettered++;
      state.counts.storageRejected = (state.counts.storageRejected ?? 0) + 1;
      state.deadLetters.push({
        stage: 'validate',
        key: message.key,
        value: message.value,
        errorClass: 'StorageRejected',
        message: describeFailure(error),
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
        at: now,
      });
      return;
    }
    state.floor = result.floor;
    for (const name of Object.keys(result.counts) as Array<keyof CoalescedBatch['counts']>) state.counts[name] += result.counts[name];
    state.deadLetters.push(...result.deadLetters);
    state.keyChanges.push(...result.keyChanges);
  }

  /** Locks the partition's offset row and returns the messages it does not have yet. */
  private async lockFresh(db: EntityManager, batch: ConsumedBatch) {
    const { next, floor } = await this.offsets.lock(db, this.config.kafka.groupId, batch.topic, batch.partition);
    const fresh = next === null ? batch.messages : batch.messages.filter((message) => BigInt(message.offset) >= next);
    return { fresh, redelivered: batch.messages.length - fresh.length, floor };
  }

  private async storeOffset(db: EntityManager, batch: ConsumedBatch, messages: ConsumedBatch['messages'], floor: number): Promise<void> {
    const last = BigInt(messages[messages.length - 1]!.offset);
    await this.offsets.store(db, this.config.kafka.groupId, batch.topic, batch.partition, last + 1n, floor);
  }

  private count(batch: ConsumedBatch, outcome: StageOutcome, started: number): void {
    const { topic } = batch;
    if (outcome.redelivered > 0) this.metrics.ingestEvents.inc({ topic, outcome: 'redelivered' }, outcome.redelivered);
    const { counts, deadLetters } = outcome;
    if (counts) {
      this.metrics.ingestEvents.inc({ topic, outcome: 'consumed' }, counts.consumed);
      this.metrics.ingestEvents.inc({ topic, outcome: 'staged' }, counts.staged);
      this.metrics.ingestEvents.inc({ topic, outcome: 'duplicate' }, counts.duplicate);
      this.metrics.ingestEvents.inc({ topic, outcome: 'coalesced' }, counts.coalesced);
      this.metrics.ingestEvents.inc({ topic, outcome: 'skipped' }, counts.skipped);
      this.metrics.ingestEvents.inc({ topic, outcome: 'dead_lettered' }, counts.deadLettered);
      if (counts.storageRejected) this.metrics.ingestEvents.inc({ topic, outcome: 'storage_rejected' }, counts.storageRejected);
      this.metrics.ingestEvents.inc({ topic, outcome: 'key_changed' }, counts.keyChanged);
      for (const letter of deadLetters) this.metrics.deadLetters.inc({ stage: letter.stage });
      this.deadLetterSummary.add(deadLetters);
      // The Profile API cannot delete or merge: the contact under the old key stays in CAAC as it
      // was. The offset finds the event (its `before` holds the old key) without logging the key.
      for (const change of outcome.keyChanges) {
        this.logger.info(
          { topic, partition: batch.partition, offset: change.offset, fromKeyType: change.from ?? 'none', toKeyType: change.to },
          'contact key changed: the whole row was sent under the new key; the contact under the old key stays in CAAC',
        );
      }
    }
    this.metrics.ingestBatchSize.observe(batch.messages.length);
    this.metrics.ingestBatchSeconds.observe((this.clock.now() - started) / 1000);
  }
}
