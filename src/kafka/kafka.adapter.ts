import { ConfigResourceTypes, Kafka, logLevel, Partitioners, type IHeaders, type LogEntry, type SASLOptions } from 'kafkajs';
import { RecordRejectedError } from '../common/failure-kind';
import type { Logger } from '../common/logger';
import { withTimeout } from '../common/with-timeout';

// The one place that knows the Kafka client library. Everything else sees the small interfaces
// below, so replacing kafkajs (unmaintained since 2024) is a change to this folder only.

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  /** Absent: plaintext without SASL. */
  security?: KafkaSecurity;
}

/** TLS (PEM contents, not file names) and SASL of a connection; see KAFKA_SSL* and KAFKA_SASL_*. */
export interface KafkaSecurity {
  ssl: false | { ca?: string; cert?: string; key?: string };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface OutgoingMessage {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, string>;
}

export interface MessageProducer {
  /** Rejects with a RecordRejectedError when the broker refuses the records themselves (see below). */
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** The offset the next message will get. */
  end: bigint;
  /** The group's committed offset; null when it has committed none. */
  committed: bigint | null;
  lag: bigint;
}

/** A message as read back from a topic; header values as text. */
export interface ReadMessage {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** The record's timestamp, epoch ms. */
  timestamp: number;
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  /** Absent: the broker's `default.replication.factor`. */
  replicationFactor?: number;
  /** Topic configuration set at creation, e.g. `max.message.bytes`. */
  config?: Record<string, string>;
}

/** Kafka's own default `message.max.bytes` (1 MiB plus the record batch overhead). */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * Broker error types that refuse a record for what it is: sending it again fails the same way
 * (see src/common/failure-kind.ts). The kafkajs client marks them non-retriable.
 */
const RECORD_REJECTIONS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP']);

/** The broker's refusal of the records themselves, found along the kafkajs error's causes. */
export function recordRejection(error: unknown): RecordRejectedError | undefined {
  for (let at = error, depth = 0; typeof at === 'object' && at !== null && depth < 5; at = (at as { cause?: unknown }).cause, depth++) {
    const { type, retriable } = at as { type?: unknown; retriable?: unknown };
    if (typeof type === 'string' && RECORD_REJECTIONS.has(type) && retriable === false) {
      return new RecordRejectedError(type, `the broker refused the record(s): ${type}`);
    }
  }
  return undefined;
}

const KAFKAJS_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export class KafkaAdapter {
  readonly client: Kafka;

  constructor(
    readonly connection: KafkaConnection,
    private readonly logger: Logger,
  ) {
    const { ssl, sasl } = connection.security ?? { ssl: false };
    this.client = new Kafka({
      clientId: connection.clientId,
      brokers: connection.brokers,
      // TRICKY: a CA of our own replaces Node's trusted roots for this connection only; host names
      // are still verified against the brokers' certificates (rejectUnauthorized stays on).
      ssl: ssl === false ? false : Object.keys(ssl).length === 0 ? true : { ...ssl, rejectUnauthorized: true },
      ...(sasl && { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions }),
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ level, log }: LogEntry) => {
          const { message, ...rest } = log;
          this.logger[KAFKAJS_LEVELS[level] ?? 'info']({ kafka: rest }, message);
        },
    });
  }

  /** Succeeds when the cluster answers a metadata call within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<{ brokers: number; controller: number | null }> {
    const admin = this.client.admin({ retry: { retries: 0 } });
    try {
      await withTimeout(admin.connect(), timeoutMs, 'Kafka');
      const cluster = await withTimeout(admin.describeCluster(), timeoutMs, 'Kafka');
      return { brokers: cluster.brokers.length, controller: cluster.controller };
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** The topics of the list that the cluster does not have. */
  async missingTopics(topics: string[]): Promise<string[]> {
    const existing = new Set(await this.topicNames());
    return topics.filter((topic) => !existing.has(topic));
  }

  /** Every topic the cluster has. */
  async topicNames(): Promise<string[]> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      return await admin.listTopics();
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Creates the topics that do not exist yet; existing ones are left as they are (another instance
   * creating one at the same moment is fine).
   */
  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length === 0) return;
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions ?? 1,
          replicationFactor: t.replicationFactor ?? -1,
          configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * The largest record batch `topic` takes: its `max.message.bytes`, else the broker's
   * `message.max.bytes`, else Kafka's default. Everything one send puts on one partition must fit.
   */
  async maxMessageBytes(topic: string): Promise<number> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      const fromTopic = await admin
        .describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
        })
        .then((result) => positiveInt(result.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue))
        .catch(() => undefined);
      if (fromTopic !== undefined) return fromTopic;
      const cluster = await admin.describeCluster();
      const broker = String(cluster.controller ?? cluster.brokers[0]?.nodeId ?? 0);
      const fromBroker = await admin
        .describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.BROKER, name: broker, configNames: ['message.max.bytes'] }],
        })
        .then((result) => positiveInt(result.resources[0]?.configEntries.find((e) => e.configName === 'message.max.bytes')?.configValue))
        .catch(() => undefined);
      return fromBroker ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Per partition of `topics`: the earliest offset the broker still holds, and the offset `groupId`
   * has committed (null when none).
   */
  async partitionStarts(groupId: string, topics: string[]): Promise<Array<{ topic: string; partition: number; earliest: string; committed: string | null }>> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      const committed = await admin.fetchOffsets({ groupId, topics });
      const starts = [];
      for (const topic of topics) {
        const group = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
        for (const { partition, low } of await admin.fetchTopicOffsets(topic)) {
          const at = group.find((entry) => entry.partition === partition)?.offset;
          starts.push({ topic, partition, earliest: low, committed: at === undefined || Number(at) < 0 ? null : at });
        }
      }
      return starts;
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Per partition of `topics`: the end of the log and what `groupId` has committed; `lag` is the
   * messages between them (the whole log when the group has committed nothing).
   */
  async consumerLag(groupId: string, topics: string[]): Promise<PartitionLag[]> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      const committed = await admin.fetchOffsets({ groupId, topics });
      const lags: PartitionLag[] = [];
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        const group = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
        // The broker lists partitions in no particular order; readers expect them in order.
        for (const end of [...ends].sort((a, b) => a.partition - b.partition)) {
          const at = group.find((entry) => entry.partition === end.partition)?.offset;
          const from = at === undefined || Number(at) < 0 ? BigInt(end.low) : BigInt(at);
          lags.push({ topic, partition: end.partition, end: BigInt(end.high), committed: at === undefined || Number(at) < 0 ? null : BigInt(at), lag: BigInt(end.high) - from });
        }
      }
      return lags;
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Reads `topic` from its start up to its end as it is when the call begins (later messages are
   * left for a later call), in partition order, one message at a time, or its first `maxMessages`.
   * No consumer group is left behind: the reader's own group is deleted afterwards. Fails after
   * `timeoutMs`.
   */
  async readToEnd(topic: string, handle: (message: ReadMessage) => Promise<void> | void, timeoutMs: number, maxMessages = Infinity): Promise<number> {
    const admin = this.client.admin();
    await admin.connect();
    const groupId = `${this.connection.clientId}-reader-${process.pid}-${Date.now()}`;
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      const ends = new Map(offsets.map((at) => [at.partition, BigInt(at.high)]));
      // TRICKY: done means "the message just before the end was handed over". A log whose last
      // offset is a transaction marker would never get there; only idempotent, non-transactional
      // producers (the service's) write the topics read here, and the timeout bounds the rest.
      const open = new Set(offsets.filter((at) => BigInt(at.high) > BigInt(at.low)).map((at) => at.partition));
      if (open.size === 0) return 0;
      let read = 0;
      const consumer = this.client.consumer({ groupId, allowAutoTopicCreation: false, retry: { retries: 5 } });
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await withTimeout(
          new Promise<void>((done, fail) => {
            consumer
              .run({
                autoCommit: false,
                eachMessage: async ({ partition, message }) => {
                  const offset = BigInt(message.offset);
                  if (!open.has(partition) || offset >= ends.get(partition)! || read >= maxMessages) return;
                  await handle({ partition, offset: message.offset, key: message.key, value: message.value, headers: stringHeaders(message.headers), timestamp: Number(message.timestamp) });
                  read++;
                  if (offset + 1n >= ends.get(partition)!) open.delete(partition);
                  if (open.size === 0 || read >= maxMessages) done();
                },
              })
              .catch(fail);
            consumer.on(consumer.events.CRASH, (event) => fail(event.payload.error));
          }),
          timeoutMs,
          `reading ${topic}`,
        );
        return read;
      } finally {
        await consumer.disconnect();
        await admin.deleteGroups([groupId]).catch(() => undefined);
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** An idempotent producer that waits for all in-sync replicas. */
  async createProducer(): Promise<MessageProducer> {
    const producer = this.client.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    return {
      send: async (topic, messages) => {
        try {
          await producer.send({ topic, acks: -1, messages });
        } catch (error) {
          throw recordRejection(error) ?? error;
        }
      },
      disconnect: () => producer.disconnect(),
    };
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) out[name] = Array.isArray(value) ? String(value[0]) : value.toString();
  return out;
}

function positiveInt(value: string | undefined): number | undefined {
  const n = value === undefined ? NaN : Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
