import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Logger } from '../common/logger';
import type { KafkaAdapter } from './kafka.adapter';

/** What ingest reads of a message. kafkajs's own message objects are handed over as they are, uncopied. */
export interface ConsumedMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

export interface ConsumedBatch {
  topic: string;
  partition: number;
  messages: ConsumedMessage[];
}

export interface BatchContext {
  /** Keeps the group membership alive during long work; cheap, call it often. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping or the partition was taken away: stop working on it. */
  isActive(): boolean;
  /** Aborts when the consumer starts stopping, so that a wait (a retry's backoff) ends at once. */
  signal: AbortSignal;
}

/**
 * Handles one partition's batch. Resolving means the batch is durable; rejecting means it is not,
 * and the partition is read again from the batch, so the same messages come again.
 */
export type BatchHandler = (batch: ConsumedBatch, context: BatchContext) => Promise<void>;

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: string;
}

/** One assigned partition as health sees it: since when its oldest batch in work waits, and since when it is paused. */
export interface PartitionState {
  topic: string;
  partition: number;
  /** Epoch ms the batch in work was handed over (it is retrying or slow when this is old); null when idle. */
  inWorkSince: number | null;
  /** Epoch ms the partition was paused for backpressure; null when fetching. */
  pausedSince: number | null;
}

/** Whether the consume loop runs, and when it last did anything (a batch handed over, a retry, a batch stored). */
export interface ConsumeLoopState {
  /** False once kafkajs crashed without restarting, or stopped without being asked to. */
  running: boolean;
  lastActivityAt: number | null;
  /** Batches handed over and not settled yet. */
  inWork: number;
}

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  maxBytesPerPartition: number;
  maxBytes: number;
  /**
   * The most messages handed to the handler at once: a fetch sized in bytes holds few large events
   * or very many small ones, and is handed over in parts of at most this many, in order.
   */
  maxBatchMessages: number;
  /** Partitions with a batch in work at once (each holds a database connection while it is stored). */
  partitionsConsumedConcurrently: number;
  sessionTimeoutMs: number;
  /** Where to start each newly assigned partition: the offsets kept in Postgres win over Kafka's. */
  startOffsets(partitions: Array<{ topic: string; partition: number }>): Promise<TopicPartitionOffset[]>;
  /** A partition whose batch in work takes longer than this is paused, so the others flow on. */
  pauseAfterMs: number;
}

/** How long a fetch waits on the broker for data, and so how soon a resumed partition is fetched again when all were paused. */
const MAX_FETCH_WAIT_MS = 1_000;

/**
 * A batch consumer over kafkajs with manual offsets: the handler stores each batch with its offsets
 * (Postgres is the truth, and on assignment each partition is sought to what it stored); Kafka's
 * committed offsets follow a stored batch, for lag monitoring only.
 */
export class BatchConsumer {
  private consumer: Consumer | undefined;
  private hasJoined = false;
  private assigned: Array<{ topic: string; partition: number }> = [];
  private stopping = false;
  private readonly stopped = new AbortController();
  private lastBatchAt: number | undefined;
  private running = false;
  private lastActivityAt: number | undefined;
  /** Partitions ("topic|partition") paused until their batch in work settles, with when they were paused. */
  private readonly paused = new Map<string, number>();
  /** Per partition, when its batch in work was handed over. */
  private readonly inWorkSince = new Map<string, number>();
  /** The seeks of the last assignment to where each partition starts; settles, never rejects. */
  private starting: Promise<void> = Promise.resolve();
  /** Per partition ("topic|partition"), the batch being stored; settles, never rejects. */
  private readonly lanes = new Map<string, Promise<void>>();

  constructor(
    private readonly kafka: KafkaAdapter,
    private readonly options: BatchConsumerOptions,
    private readonly logger: Logger,
  ) {}

  joined(): boolean {
    return this.hasJoined && !this.stopping;
  }

  status(): Record<string, unknown> {
    return {
      groupId: this.options.groupId,
      joined: this.joined(),
      partitions: this.assigned.length,
      // Paused for backpressure: their batches take longer than pauseAfterMs to store.
      paused: this.paused.size,
      lastBatchAt: this.lastBatchAt ? new Date(this.lastBatchAt).toISOString() : null,
    };
  }

  /** Every assigned partition with its work and pause times, for readiness. */
  partitionStates(): PartitionState[] {
    return this.assigned.map(({ topic, partition }) => {
      const lane = `${topic}|${partition}`;
      return { topic, partition, inWorkSince: this.inWorkSince.get(lane) ?? null, pausedSince: this.paused.get(lane) ?? null };
    });
  }

  /** For liveness: a loop that is not running, or does nothing while work waits, needs a restart. */
  loopState(): ConsumeLoopState {
    return { running: this.running && !this.stopping, lastActivityAt: this.lastActivityAt ?? null, inWork: this.lanes.size };
  }

  async start(handler: BatchHandler): Promise<void> {
    const consumer = this.kafka.client.consumer({
      groupId: this.options.groupId,
      sessionTimeout: this.options.sessionTimeoutMs,
      // Kafka's advice: heartbeat at most a third of the session timeout.
      heartbeatInterval: Math.floor(this.options.sessionTimeoutMs / 10),
      maxBytesPerPartition: this.options.maxBytesPerPartition,
      maxBytes: this.options.maxBytes,
      maxWaitTimeInMs: MAX_FETCH_WAIT_MS,
      allowAutoTopicCreation: false,
      retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 30_000 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.assigned = Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
        partitions.map((partition) => ({ topic, partition })),
      );
      // TRICKY: kafkajs starts from the offsets committed in Kafka; Postgres may be ahead (a crash
      // between the database commit and the Kafka commit), so seek every assigned partition to the
      // stored offset before its first fetch. The handler also skips any message already stored.
      this.starting = this.seekToStoredOffsets(consumer)
        .then(() => {
          this.hasJoined = true;
        })
        .catch((error: Error) => this.logger.error({ err: error }, 'could not seek to stored offsets'));
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.hasJoined = false;
      // TRICKY: kafkajs emits STOP before CRASH (it disconnects first); only a crash it does not
      // restart from leaves the loop dead until the process restarts.
      this.running = event.payload.restart;
      this.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'Kafka consumer crashed');
    });
    consumer.on(consumer.events.STOP, () => {
      this.hasJoined = false;
      this.running = false;
    });

    await consumer.connect();
    await consumer.subscribe({ topics: this.options.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently,
      eachBatch: async (payload) => this.handleBatch(payload, handler),
    });
    this.running = true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort(new Error('the consumer is stopping'));
    // No new batches; the ones handed over finish their work (bounded by the caller's shutdown
    // timeout), then the Kafka commits behind them can still be sent before leaving the group.
    await this.consumer?.stop();
    await Promise.all(this.lanes.values());
    await this.consumer?.disconnect();
    this.hasJoined = false;
  }

  private async seekToStoredOffsets(consumer: Consumer): Promise<void> {
    if (this.assigned.length === 0) return;
    const stored = await this.options.startOffsets(this.assigned);
    for (const position of stored) consumer.seek(position);
  }

  /**
   * Hands the batch to its partition's lane and returns once the partition's previous batch is
   * done, so kafkajs fetches the next batches while this one is written: fetching, decoding and
   * writing overlap instead of taking turns. Each partition has at most one batch in work, and its
   * batches are handled in order. kafkajs moves its fetch position past the batch at once; if the
   * handler then fails (the partition was taken away, or the consumer is stopping), the partition
   * is sought back to the failed batch and the batches fetched after it are dropped, so nothing
   * after a failed batch is applied before it.
   *
   * Backpressure: while the previous batch is in work, or `partitionsConsumedConcurrently`
   * partitions have one, this batch waits, and so does kafkajs's next fetch, but never longer than
   * `pauseAfterMs`: then (Postgres slow or down, batches retrying) the partition is paused and this
   * batch left unresolved, so kafkajs goes on fetching the partitions that can move; the partition
   * resumes, from this batch, when what it waited for is free.
   */
  private async handleBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch } = payload;
    // TRICKY: a batch fetched before its partition was sought to where it starts (the seeks wait on
    // Postgres and the broker) is stale once they land; handed over, it would store an offset past
    // everything an earlier start (INGEST_START_WITHOUT_STORED_OFFSET=earliest) is to read.
    await this.starting;
    const lane = `${batch.topic}|${batch.partition}`;
    const previous = this.lanes.get(lane);
    if (previous !== undefined && !(await settlesWithin(previous, this.options.pauseAfterMs))) return this.pauseUntil(previous, batch);
    while (this.lanes.size >= this.options.partitionsConsumedConcurrently) {
      const aLaneFree = Promise.race(this.lanes.values());
      if (!(await settlesWithin(aLaneFree, this.options.pauseAfterMs))) return this.pauseUntil(aLaneFree, batch);
    }
    // A failed batch before this one sought the partition back, which makes this one stale.
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale() || this.stopping) return;

    const messages: ConsumedMessage[] = batch.messages;
    this.lastActivityAt = Date.now();
    if (!this.inWorkSince.has(lane)) this.inWorkSince.set(lane, this.lastActivityAt);
    const last = messages[messages.length - 1]!.offset;
    const context: BatchContext = {
      heartbeat: () => {
        this.lastActivityAt = Date.now(); // a retry turns the loop too
        return payload.heartbeat();
      },
      isActive: () => payload.isRunning() && !payload.isStale() && !this.stopping,
      signal: this.stopped.signal,
    };
    const work = this.handleInParts(batch.topic, batch.partition, messages, handler, context)
      .then((stored) => (stored ? this.afterStored(batch.topic, batch.partition, last) : undefined))
      .finally(() => {
        this.lastActivityAt = Date.now();
        if (this.lanes.get(lane) === work) {
          this.lanes.delete(lane);
          this.inWorkSince.delete(lane);
        }
      });
    this.lanes.set(lane, work);
    // TRICKY: this moves kafkajs's fetch position, not what is stored: the batch may still fail, and
    // then readAgainFrom seeks back to it before anything fetched after it can be handed over.
    payload.resolveOffset(last);
  }

  /**
   * Hands the fetched messages to the handler in parts of at most `maxBatchMessages`, one after the
   * other; true once every part is stored. A part that fails seeks the partition back to its first
   * offset (the parts before it are stored), and the rest is not handed over: it comes again.
   */
  private async handleInParts(
    topic: string,
    partition: number,
    messages: ConsumedMessage[],
    handler: BatchHandler,
    context: BatchContext,
  ): Promise<boolean> {
    const size = this.options.maxBatchMessages;
    for (let start = 0; start < messages.length; start += size) {
      // Stopping, or the partition went elsewhere, between parts: whoever reads it next starts at the stored offset.
      if (start > 0 && !context.isActive()) return false;
      const part = messages.length <= size ? messages : messages.slice(start, start + size);
      try {
        await handler({ topic, partition, messages: part }, context);
      } catch (error) {
        this.readAgainFrom(topic, partition, part[0]!.offset, error as Error);
        return false;
      }
      this.lastBatchAt = Date.now();
    }
    return true;
  }

  /**
   * Leaves the batch unresolved and pauses its partition until `free` settles; kafkajs fetches the
   * other partitions meanwhile, and this one again from the same batch once it is resumed.
   */
  private pauseUntil(free: Promise<void>, batch: EachBatchPayload['batch']): void {
    const lane = `${batch.topic}|${batch.partition}`;
    const partition = [{ topic: batch.topic, partitions: [batch.partition] }];
    this.consumer!.pause(partition);
    if (!this.paused.has(lane)) this.paused.set(lane, Date.now());
    void free.finally(() => {
      this.paused.delete(lane);
      // Stopped meanwhile: kafkajs then has no group to resume in, and nothing is fetched anyway.
      if (!this.stopping) this.consumer?.resume(partition);
    });
  }

  /**
   * The batch was not stored: everything before it was (its lane went in order), so the partition
   * is read again from the batch's first offset, and the batches already fetched after it are
   * dropped as stale. When stopping, or when the partition went to another member, whoever reads it
   * next starts from the offset stored in Postgres anyway.
   */
  private readAgainFrom(topic: string, partition: number, offset: string, error: Error): void {
    this.logger.warn({ err: error, topic, partition, offset }, 'batch not stored; reading the partition again from it');
    if (this.stopping) return;
    try {
      this.consumer?.seek({ topic, partition, offset });
    } catch (seekError) {
      this.logger.warn({ err: seekError, topic, partition }, 'could not seek back; the partition resumes from the stored offset after the next rebalance');
    }
  }

  private async afterStored(topic: string, partition: number, last: string): Promise<void> {
    // A batch stored after its partition went to another member: that member's commits count.
    if (!this.assigned.some((entry) => entry.topic === topic && entry.partition === partition)) return;
    // Kafka's committed offset only feeds lag monitoring; a failure here loses nothing.
    await this.consumer
      ?.commitOffsets([{ topic, partition, offset: (BigInt(last) + 1n).toString() }])
      .catch((error: Error) => this.logger.warn({ err: error }, 'Kafka offset commit failed (monitoring only)'));
  }
}

/** True when `promise` settles within `ms`; it must not reject. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
