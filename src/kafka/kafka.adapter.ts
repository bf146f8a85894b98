import { Kafka, logLevel, Partitioners, type LogEntry } from 'kafkajs';
import type { Logger } from '../common/logger';
import { withTimeout } from '../common/with-timeout';

// The one place that knows the Kafka client library. Everything else sees the small interfaces
// below, so replacing kafkajs (unmaintained since 2024) is a change to this folder only.

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
}

export interface OutgoingMessage {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, string>;
}

export interface MessageProducer {
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
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
    this.client = new Kafka({
      clientId: connection.clientId,
      brokers: connection.brokers,
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
   * Creates the topics that do not exist yet, with their topic configs (e.g. `cleanup.policy:
   * compact`); existing ones are left as they are.
   */
  async ensureTopics(topics: Array<{ topic: string; partitions?: number; configs?: Record<string, string> }>): Promise<void> {
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
          ...(t.configs ? { configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })) } : {}),
        })),
      });
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
        await producer.send({ topic, acks: -1, messages });
      },
      disconnect: () => producer.disconnect(),
    };
  }
}
