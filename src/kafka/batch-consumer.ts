import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from '../common/logger';
import type { KafkaAdapter } from './kafka.adapter';

export interface ConsumedMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string | undefined>;
  /** Broker timestamp, epoch ms. */
  timestamp: number;
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
}

/**
 * Handles one partition's batch. Resolving means the batch is durable and consumption may move
 * past it; rejecting leaves the offsets where they were, so the same messages come again.
 */
export type BatchHandler = (batch: ConsumedBatch, context: BatchContext) => Promise<void>;

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: string;
}

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  maxBytesPerPartition: number;
  maxBytes: number;
  partitionsConsumedConcurrently: number;
  sessionTimeoutMs: number;
  /** Where to start each newly assigned partition: the offsets kept in Postgres win over Kafka's. */
  startOffsets(partitions: Array<{ topic: string; partition: number }>): Promise<TopicPartitionOffset[]>;
}


/**
 * A batch consumer over kafkajs with manual offsets: offsets move only when the handler resolved,
 * and Kafka's committed offsets are updated afterwards for lag monitoring (Postgres is the truth).
 */
export class BatchConsumer {
  private consumer: Consumer | undefined;
  private hasJoined = false;
  private assigned: Array<{ topic: string; partition: number }> = [];
  private stopping = false;
  private lastBatchAt: number | undefined;

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
      lastBatchAt: this.lastBatchAt ? new Date(this.lastBatchAt).toISOString() : null,
    };
  }

  async start(handler: BatchHandler): Promise<void> {
    const consumer = this.kafka.client.consumer({
      groupId: this.options.groupId,
      sessionTimeout: this.options.sessionTimeoutMs,
      // Kafka's advice: heartbeat at most a third of the session timeout.
      heartbeatInterval: Math.floor(this.options.sessionTimeoutMs / 10),
      maxBytesPerPartition: this.options.maxBytesPerPartition,
      maxBytes: this.options.maxBytes,
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
      this.seekToStoredOffsets(consumer)
        .then(() => {
          this.hasJoined = true;
        })
        .catch((error: Error) => this.logger.error({ err: error }, 'could not seek to stored offsets'));
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.hasJoined = false;
      this.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'Kafka consumer crashed');
    });
    consumer.on(consumer.events.STOP, () => {
      this.hasJoined = false;
    });

    await consumer.connect();
    await consumer.subscribe({ topics: this.options.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently,
      eachBatch: async (payload) => this.handleBatch(payload, handler),
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect();
    this.hasJoined = false;
  }

  private async seekToStoredOffsets(consumer: Consumer): Promise<void> {
    if (this.assigned.length === 0) return;
    const stored = await this.options.startOffsets(this.assigned);
    for (const position of stored) consumer.seek(position);
  }

  private async handleBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
    const messages = batch.messages.map(toConsumedMessage);
    await handler(
      { topic: batch.topic, partition: batch.partition, messages },
      { heartbeat: () => payload.heartbeat(), isActive: () => payload.isRunning() && !payload.isStale() && !this.stopping },
    );
    const last = batch.messages[batch.messages.length - 1]!.offset;
    payload.resolveOffset(last);
    this.lastBatchAt = Date.now();
    // Kafka's committed offset only feeds lag monitoring; a failure here loses nothing.
    await this.consumer
      ?.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }])
      .catch((error: Error) => this.logger.warn({ err: error }, 'Kafka offset commit failed (monitoring only)'));
    await payload.heartbeat();
  }
}

function toConsumedMessage(message: KafkaMessage): ConsumedMessage {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    headers[name] = Array.isArray(value) ? value.map(String).join(',') : value?.toString();
  }
  return {
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers,
    timestamp: Number(message.timestamp),
  };
}
