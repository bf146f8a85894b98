import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CONSUMER_STATUS, type ConsumerStatus } from '../ingest/consumer-status';
import { BrokerProbe } from './broker.probe';

/** Whether the cluster answers: through one reused connection, cached for a few seconds. */
@Injectable()
export class KafkaHealth {
  constructor(
    private readonly broker: BrokerProbe,
    private readonly indicator: HealthIndicatorService,
  ) {}

  async check(key = 'kafka'): Promise<HealthIndicatorResult> {
    const session = this.indicator.check(key);
    const state = await this.broker.clusterState();
    const checkedAt = new Date(state.checkedAt).toISOString();
    if (!state.up) return session.down({ reason: state.reason, checkedAt });
    return session.up({ brokers: state.brokers, controller: state.controller, checkedAt });
  }
}

/**
 * The consumer is in its group and no partition is stuck: a partition whose batch has been
 * retrying, or which has been paused, longer than HEALTH_PARTITION_STUCK_MS makes the instance
 * unready, naming the partition, so that an hour-long retry never hides behind a 200.
 */
@Injectable()
export class ConsumerHealth {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CONSUMER_STATUS) private readonly consumer: ConsumerStatus,
    private readonly indicator: HealthIndicatorService,
  ) {}

  check(key = 'consumer', now = Date.now()): HealthIndicatorResult {
    const session = this.indicator.check(key);
    const details = this.consumer.details();
    if (!this.consumer.joined()) return session.down({ ...details, reason: 'not_joined' });
    const limit = this.config.health.partitionStuckMs;
    const stuck = this.consumer.partitionStates().flatMap((state) => {
      const since = Math.min(state.inWorkSince ?? Infinity, state.pausedSince ?? Infinity);
      if (!Number.isFinite(since) || now - since < limit) return [];
      return [{ topic: state.topic, partition: state.partition, state: state.pausedSince !== null ? 'paused' : 'retrying', forMs: now - since }];
    });
    if (stuck.length > 0) return session.down({ ...details, reason: 'partition_stuck', stuck });
    return session.up(details);
  }
}
