import { ConfigResourceTypes, Kafka, logLevel, Partitioners, type LogEntry, type SASLOptions } from 'kafkajs';
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
    const admin = this.client.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      return topics.filter((topic) => !existing.has(topic));
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

function positiveInt(value: string | undefined): number | undefined {
  const n = value === undefined ? NaN : Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
