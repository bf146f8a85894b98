import { HealthIndicatorService } from '@nestjs/terminus';
import type { TopicDecoders } from '../../src/ingest/topic-decoders';
import { SCHEMA_REGISTRY_HEALTH_CACHE_MS, SchemaRegistryHealth } from '../../src/ops/schema-registry.health';
import { SchemaRegistryUnavailableError } from '../../src/schema-registry/schema-registry.errors';

function aSut(options: { usesRegistry: boolean; ping: () => Promise<void> }) {
  let pings = 0;
  const decoders = {
    usesRegistry: () => options.usesRegistry,
    registry: {
      ping: () => {
        pings++;
        return options.ping();
      },
    },
  } as unknown as TopicDecoders;
  return { sut: new SchemaRegistryHealth(decoders, new HealthIndicatorService()), pings: () => pings };
}

describe(SchemaRegistryHealth.name, () => {
  it('has no check when no topic is read through the registry', async () => {
    const { sut, pings } = aSut({ usesRegistry: false, ping: async () => undefined });
    await expect(sut.check()).resolves.toEqual({});
    expect(pings()).toBe(0);
  });

  it('is up when the registry answers', async () => {
    const { sut } = aSut({ usesRegistry: true, ping: async () => undefined });
    await expect(sut.check()).resolves.toEqual({ schema_registry: { status: 'up' } });
  });

  it('is down with the reason category when it does not, and reuses an answer for a while', async () => {
    const { sut, pings } = aSut({
      usesRegistry: true,
      ping: async () => {
        throw new SchemaRegistryUnavailableError('the Schema Registry did not answer within 5000 ms', 'timeout');
      },
    });
    await expect(sut.check('schema_registry', 1_000)).resolves.toEqual({ schema_registry: { status: 'down', reason: 'timeout' } });
    await expect(sut.check('schema_registry', 1_000 + SCHEMA_REGISTRY_HEALTH_CACHE_MS - 1)).resolves.toEqual({ schema_registry: { status: 'down', reason: 'timeout' } });
    expect(pings()).toBe(1);
    await sut.check('schema_registry', 1_000 + SCHEMA_REGISTRY_HEALTH_CACHE_MS);
    expect(pings()).toBe(2);
  });
});
