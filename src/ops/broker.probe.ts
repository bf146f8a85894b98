import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { KafkaAdmin, type HighWatermark } from '../kafka/kafka-admin';
import { KafkaAdapter } from '../kafka/kafka.adapter';
import { failureReason, type FailureReason } from './failure-reason';

/** One broker question may take this long before it counts as down. */
export const BROKER_TIMEOUT_MS = 3_000;
/**
 * Answers are reused this long: readiness probes from several places and every scrape would
 * otherwise each ask the cluster; a few seconds is fresh enough for both.
 */
export const BROKER_CACHE_MS = 5_000;

export type ClusterState =
  | { up: true; brokers: number; controller: number | null; checkedAt: number }
  | { up: false; reason: FailureReason; checkedAt: number };

interface Cached<T> {
  at: number;
  value: Promise<T>;
}

/**
 * The broker as health and metrics see it, through one reused admin connection, each answer
 * cached for BROKER_CACHE_MS and shared by concurrent callers (a failed answer too, so a down
 * broker is not asked on every probe).
 */
@Injectable()
export class BrokerProbe implements OnApplicationShutdown {
  private readonly admin: KafkaAdmin;
  private cluster: Cached<ClusterState> | undefined;
  private watermarks = new Map<string, Cached<HighWatermark[]>>();

  constructor(kafka: KafkaAdapter) {
    this.admin = new KafkaAdmin(kafka);
  }

  /** Whether the cluster answers, never rejecting. */
  clusterState(now = Date.now()): Promise<ClusterState> {
    if (!this.cluster || now - this.cluster.at >= BROKER_CACHE_MS) {
      const value = this.admin.describeCluster(BROKER_TIMEOUT_MS).then(
        (cluster): ClusterState => ({ up: true, ...cluster, checkedAt: now }),
        (error: unknown): ClusterState => ({ up: false, reason: failureReason(error), checkedAt: now }),
      );
      this.cluster = { at: now, value };
    }
    return this.cluster.value;
  }

  /** The high watermarks of `topics`; rejects when the broker does not answer in time. */
  highWatermarks(topics: readonly string[], now = Date.now()): Promise<HighWatermark[]> {
    const key = topics.join(',');
    const cached = this.watermarks.get(key);
    if (cached && now - cached.at < BROKER_CACHE_MS) return cached.value;
    const value = this.admin.highWatermarks(topics, BROKER_TIMEOUT_MS);
    // A failure is not kept: the next scrape asks again (the timeout bounds each try).
    value.catch(() => this.watermarks.delete(key));
    this.watermarks.set(key, { at: now, value });
    return value;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.admin.close();
  }
}
