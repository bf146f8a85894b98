import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { KafkaAdapter } from '../kafka/kafka.adapter';

export const KAFKA_HEALTH_TIMEOUT_MS = 3_000;

/** Reports whether Kafka answers; consumers add their group state through `ConsumerStatus`. */
export interface ConsumerStatus {
  joined(): boolean;
  details(): Record<string, unknown>;
}
export const CONSUMER_STATUS = Symbol('ConsumerStatus');

@Injectable()
export class KafkaHealth {
  constructor(
    private readonly kafka: KafkaAdapter,
    private readonly indicator: HealthIndicatorService,
    @Inject(CONSUMER_STATUS) private readonly consumer: ConsumerStatus,
  ) {}

  async check(key = 'kafka'): Promise<HealthIndicatorResult> {
    const session = this.indicator.check(key);
    try {
      const cluster = await this.kafka.ping(KAFKA_HEALTH_TIMEOUT_MS);
      const consumer = this.consumer.details();
      if (!this.consumer.joined()) return session.down({ ...cluster, consumer, message: 'consumer has not joined its group' });
      return session.up({ ...cluster, consumer });
    } catch (error) {
      return session.down({ message: (error as Error).message });
    }
  }
}
