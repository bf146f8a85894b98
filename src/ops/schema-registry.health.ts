import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { TopicDecoders } from '../ingest/topic-decoders';
import { SchemaRegistryUnavailableError } from '../schema-registry/schema-registry.errors';

/**
 * An answer is reused this long: probes from several places and every scrape would otherwise each
 * call the registry, and an outage is retried by the consumer anyway.
 */
export const SCHEMA_REGISTRY_HEALTH_CACHE_MS = 5_000;

/**
 * Up when the Schema Registry's Confluent-compatible API answers; a check only when a source topic
 * is read through the registry. Down means new writer schemas cannot be fetched: framed batches
 * then wait (retried, nothing skipped), so the instance is not ready.
 */
@Injectable()
export class SchemaRegistryHealth {
  private last: { at: number; result: { up: true } | { up: false; reason: string } } | undefined;

  constructor(
    private readonly decoders: TopicDecoders,
    private readonly indicator: HealthIndicatorService,
  ) {}

  async check(key = 'schema_registry', now = Date.now()): Promise<HealthIndicatorResult> {
    const registry = this.decoders.registry;
    if (!this.decoders.usesRegistry() || registry === undefined) return {};
    const session = this.indicator.check(key);
    if (this.last === undefined || now - this.last.at >= SCHEMA_REGISTRY_HEALTH_CACHE_MS) {
      try {
        await registry.ping();
        this.last = { at: now, result: { up: true } };
      } catch (error) {
        const reason = error instanceof SchemaRegistryUnavailableError ? error.reason : 'error';
        this.last = { at: now, result: { up: false, reason } };
      }
    }
    const { result } = this.last;
    return result.up ? session.up() : session.down({ reason: result.reason });
  }
}
