import { loadConfig } from '../../src/config/app-config';
import { TopicDecoders } from '../../src/ingest/topic-decoders';
import type { RegisteredSchema, SchemaRegistryClient } from '../../src/schema-registry/schema-registry.client';
import { SchemaNotFoundError, SchemaRegistryUnavailableError } from '../../src/schema-registry/schema-registry.errors';
import { customersAvroSchema, framedAvro } from './decoders/debezium-avro.factory';
import { anInsert, EXAMPLE_MAPPING_FILE, SOURCE_TS_MS } from './decoders/debezium.factory';

const NOW = SOURCE_TS_MS + 60_000;
const TOPIC = 'crm.public.customers';
const schema = customersAvroSchema();

/** A registry stand-in: the ids it knows, the ids it says do not exist, or down; it counts lookups. */
function aRegistry(state: { known?: number[]; missing?: number[]; down?: boolean }) {
  const asked: number[] = [];
  const registry = {
    schemaById: async (id: number): Promise<RegisteredSchema> => {
      asked.push(id);
      if (state.down) throw new SchemaRegistryUnavailableError('the Schema Registry is unreachable', 'unreachable');
      if (state.missing?.includes(id)) throw new SchemaNotFoundError(id);
      return { id, schemaType: 'AVRO', schema: JSON.stringify(schema) };
    },
  };
  return { registry: registry as unknown as SchemaRegistryClient, asked };
}

function aSut(registry: SchemaRegistryClient): TopicDecoders {
  const config = loadConfig({
    KAFKA_BROKERS: '127.0.0.1:9092',
    SOURCE_TOPICS: `${TOPIC}:debezium-avro:${EXAMPLE_MAPPING_FILE}`,
    SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/caac',
    CAAC_BASE_URL: 'http://127.0.0.1:4010',
    CAAC_API_KEY: 'sandbox-key',
    ADMIN_TOKEN: 'test-admin-token-0123456789',
  });
  return new TopicDecoders(config, { registry });
}

describe(TopicDecoders.name, () => {
  it('fetches each schema id a batch names once, then decodes the batch without the registry', async () => {
    const { registry, asked } = aRegistry({});
    const sut = aSut(registry);
    const values = [framedAvro(1, schema, anInsert()), framedAvro(2, schema, anInsert()), framedAvro(1, schema, anInsert()), null, Buffer.from('garbage')];

    const decode = await sut.prepare(TOPIC, values);

    expect(asked.sort()).toEqual([1, 2]);
    expect(values.map((value) => decode(value, NOW).kind)).toEqual(['change', 'change', 'change', 'skip', 'error']);
  });

  it('fails the batch (transient) while the registry is down: nothing decoded, nothing dead-lettered', async () => {
    const sut = aSut(aRegistry({ down: true }).registry);
    await expect(sut.prepare(TOPIC, [framedAvro(1, schema, anInsert())])).rejects.toBeInstanceOf(SchemaRegistryUnavailableError);
  });

  it('dead-letters the events of an id the registry says does not exist, and decodes the rest', async () => {
    const sut = aSut(aRegistry({ missing: [9] }).registry);
    const values = [framedAvro(9, schema, anInsert()), framedAvro(1, schema, anInsert())];

    const decode = await sut.prepare(TOPIC, values);

    expect(decode(values[0]!, NOW)).toMatchObject({ kind: 'error', stage: 'decode', errorClass: 'UnknownSchema', schemaId: 9 });
    expect(decode(values[1]!, NOW).kind).toBe('change');
  });

  it('says it uses the registry only when a topic is read through it', () => {
    expect(aSut(aRegistry({}).registry).usesRegistry()).toBe(true);
  });
});
