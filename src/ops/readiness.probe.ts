import { Injectable } from '@nestjs/common';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import { ExportHealth } from '../export/export.health';
import { ImporterHealth } from '../importer/importer.health';
import { ConsumerHealth, KafkaHealth } from './kafka.health';
import { PostgresHealth } from './postgres.health';
import { SchemaRegistryHealth } from './schema-registry.health';

type CheckResult = { status: 'up' | 'down'; [detail: string]: unknown };

/** Terminus's body shape: every check in `details`, the up ones in `info`, the down ones in `error`. */
export interface ReadinessResult {
  status: 'ok' | 'error';
  info: Record<string, CheckResult>;
  error: Record<string, CheckResult>;
  details: Record<string, CheckResult>;
}

/**
 * Ready to do its work: Postgres answers, the broker answers (and the Schema Registry, when a topic is read through it), the consumer is in its group with
 * no partition stuck, and CAAC does not refuse the importer's requests as a whole. The breaker
 * being open, a standby role, an import in flight and the running or a stale export are details,
 * never a reason to be unready (DESIGN §4.6): ingest goes on and the backlog is the buffer. Every check is bounded.
 */
@Injectable()
export class ReadinessProbe {
  constructor(
    private readonly postgres: PostgresHealth,
    private readonly kafka: KafkaHealth,
    private readonly consumer: ConsumerHealth,
    private readonly importer: ImporterHealth,
    private readonly exporter: ExportHealth,
    private readonly schemaRegistry: SchemaRegistryHealth,
  ) {}

  async check(): Promise<ReadinessResult> {
    const results: HealthIndicatorResult[] = await Promise.all([
      this.postgres.check(),
      this.kafka.check(),
      Promise.resolve(this.consumer.check()),
      Promise.resolve(this.importer.check()),
      Promise.resolve(this.exporter.check()),
      this.schemaRegistry.check(),
    ]);
    const details = Object.assign({}, ...results) as Record<string, CheckResult>;
    const info: Record<string, CheckResult> = {};
    const error: Record<string, CheckResult> = {};
    for (const [name, result] of Object.entries(details)) (result.status === 'up' ? info : error)[name] = result;
    return { status: Object.keys(error).length > 0 ? 'error' : 'ok', info, error, details };
  }
}
