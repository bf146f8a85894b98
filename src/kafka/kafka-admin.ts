import type { Admin } from 'kafkajs';
import { withTimeout } from '../common/with-timeout';
import type { KafkaAdapter } from './kafka.adapter';

/** Per partition of a topic: the next offset to be written (high watermark) and the oldest kept (low). */
export interface HighWatermark {
  topic: string;
  partition: number;
  high: bigint;
  low: bigint;
}

/**
 * One long-lived admin connection for the questions health and metrics ask on every probe and
 * scrape, instead of a connection per question (each would cost a TCP and SASL handshake, and
 * a burst of probes a burst of connections). A failed call drops the connection; the next call
 * opens a new one. Every call is bounded by the caller's timeout.
 */
export class KafkaAdmin {
  private admin: Admin | undefined;
  private connecting: Promise<Admin> | undefined;

  constructor(private readonly kafka: KafkaAdapter) {}

  /** Succeeds when the cluster answers a metadata call within `timeoutMs`. */
  async describeCluster(timeoutMs: number): Promise<{ brokers: number; controller: number | null }> {
    return this.use(timeoutMs, 'Kafka', async (admin) => {
      const cluster = await admin.describeCluster();
      return { brokers: cluster.brokers.length, controller: cluster.controller };
    });
  }

  /** Every partition's high watermark of `topics`. */
  async highWatermarks(topics: readonly string[], timeoutMs: number): Promise<HighWatermark[]> {
    return this.use(timeoutMs, 'Kafka offsets', async (admin) => {
      const perTopic = await Promise.all(
        topics.map(async (topic) => (await admin.fetchTopicOffsets(topic)).map((entry) => ({ topic, partition: entry.partition, high: BigInt(entry.high), low: BigInt(entry.low) }))),
      );
      return perTopic.flat();
    });
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    this.connecting = undefined;
    await admin?.disconnect().catch(() => undefined);
  }

  private async use<T>(timeoutMs: number, what: string, work: (admin: Admin) => Promise<T>): Promise<T> {
    try {
      return await withTimeout(this.connected().then(work), timeoutMs, what);
    } catch (error) {
      // A timed-out or failed connection may be half-open: start afresh next time.
      await this.close();
      throw error;
    }
  }

  private connected(): Promise<Admin> {
    if (this.admin) return Promise.resolve(this.admin);
    this.connecting ??= (async () => {
      const admin = this.kafka.client.admin({ retry: { retries: 0 } });
      try {
        await admin.connect();
      } catch (error) {
        await admin.disconnect().catch(() => undefined);
        this.connecting = undefined;
        throw error;
      }
      this.admin = admin;
      return admin;
    })();
    return this.connecting;
  }
}
