import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { ReadinessProbe } from '../../src/ops/readiness.probe';
import { frame } from '../../src/schema-registry/wire-format';
import { migratedDatabase } from '../support/database';
import { highWatermarks, produce, readTopic } from '../support/kafka-io';
import { pendingValues, waitUntilStaged } from '../support/pipeline';
import { registerAvro, testRegistryUrl } from '../support/schema-registry';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { TcpProxy } from '../support/tcp-proxy';
import { customersAvroColumns, customersAvroSchema, framedAvro, toAvro } from './decoders/debezium-avro.factory';
import {
  EXAMPLE_MAPPING_FILE,
  aCustomerRow,
  aSource,
  aDebeziumEvent,
  toMessage,
  withSchema,
  type CustomerRow,
  type DebeziumPayload,
} from './decoders/debezium.factory';

const BASE_TS = Date.parse('2026-11-20T00:00:00.000Z');

/** The same CRM changes for a customer id prefix: inserts, then updates under three table versions. */
function crmChanges(prefix: string): Array<{ version: 1 | 2 | 3; key: string; payload: DebeziumPayload }> {
  const changes: Array<{ version: 1 | 2 | 3; key: string; payload: DebeziumPayload }> = [];
  let ts = BASE_TS;
  const event = (op: string, before: CustomerRow | null, after: CustomerRow) =>
    aDebeziumEvent({ op, before, after, source: aSource({ ts_ms: ++ts }), ts_ms: ts + 5 });
  const rows = new Map<string, CustomerRow>();
  for (let i = 0; i < 12; i++) {
    const id = `${prefix}-${i}`;
    const row = aCustomerRow({
      customer_id: id,
      email: `c${i}@example.com`,
      tier: ['Gold', 'Silver', null][i % 3],
      points: i * 10,
      birthday: 7000 + i,
      gender: ['M', 'F', null][i % 3],
      opt_in_sms: i % 2 === 0,
    });
    rows.set(id, row);
    changes.push({ version: 1, key: id, payload: event('c', null, row) });
  }
  // Version 2 adds a column (nickname, not mapped); version 3 drops one (tier).
  for (let i = 0; i < 12; i += 2) {
    const id = `${prefix}-${i}`;
    const before = { ...rows.get(id)!, nickname: null };
    const after = { ...before, points: 500 + i, first_name: null, nickname: `n${i}` };
    rows.set(id, after);
    changes.push({ version: 2, key: id, payload: event('u', before, after) });
  }
  for (let i = 1; i < 12; i += 3) {
    const id = `${prefix}-${i}`;
    const { tier: _before, ...before } = rows.get(id)!;
    const after = { ...before, last_name: 'Chen', mobile: '0911-222-333' };
    changes.push({ version: 3, key: id, payload: event('u', before, after) });
  }
  return changes;
}

const SCHEMAS = {
  1: customersAvroSchema(),
  2: customersAvroSchema([...customersAvroColumns(), { name: 'nickname', type: 'string' }]),
  3: customersAvroSchema([...customersAvroColumns().filter((c) => c.name !== 'tier'), { name: 'nickname', type: 'string' }]),
};

function withoutPrefix(values: Map<string, Record<string, unknown>>, prefix: string): Map<string, Record<string, unknown>> {
  return new Map(
    [...values]
      .filter(([id]) => id.startsWith(`${prefix}-`))
      .map(([id, fields]) => [id.slice(prefix.length + 1), { ...fields, ...(fields.customer_id !== undefined ? { customer_id: '' } : {}) }]),
  );
}

async function storedOffset(db: Client, topic: string): Promise<string | undefined> {
  const { rows } = await db.query(`SELECT next_offset::text AS next FROM consumer_offset WHERE topic = $1 AND partition = 0`, [topic]);
  return rows[0]?.next;
}

describe('ingest of Debezium Avro events through the Schema Registry', () => {
  let registryUrl: string;

  beforeAll(async () => {
    registryUrl = await testRegistryUrl();
  });

  it('stages, value for value, what the JSON converter path stages for the same CRM changes, across a column added and one dropped, with no dead letter', async () => {
    const database = await migratedDatabase('ingest_avro_same');
    const jsonTopic = uniqueName('avro-same.json');
    const avroTopic = uniqueName('avro-same.avro');
    const dlqTopic = uniqueName('avro-same.dlq');
    let sut: INestApplication | undefined;
    try {
      await createTopics([{ topic: jsonTopic }, { topic: avroTopic }, { topic: dlqTopic }]);
      const ids = {
        1: await registerAvro(`${avroTopic}-value`, SCHEMAS[1]),
        2: await registerAvro(`${avroTopic}-value`, SCHEMAS[2]),
        3: await registerAvro(`${avroTopic}-value`, SCHEMAS[3]),
      };
      expect(new Set(Object.values(ids)).size).toBe(3);
      sut = await startService(
        testConfig({
          DATABASE_URL: database.url,
          SOURCE_TOPICS: `${jsonTopic}:debezium:${EXAMPLE_MAPPING_FILE},${avroTopic}:debezium-avro:${EXAMPLE_MAPPING_FILE}`,
          SCHEMA_REGISTRY_URL: registryUrl,
          KAFKA_GROUP_ID: uniqueName('avro-same'),
          DLQ_TOPIC: dlqTopic,
          IMPORTER_ENABLED: 'false',
        }),
      );
      await produce(jsonTopic, crmChanges('J').map(({ key, payload }) => ({ key, value: toMessage(withSchema(payload)) })));
      await produce(avroTopic, crmChanges('A').map(({ version, key, payload }) => ({ key, value: framedAvro(ids[version], SCHEMAS[version], payload) })));
      await waitUntilStaged(database.client, jsonTopic);
      await waitUntilStaged(database.client, avroTopic);

      const staged = await pendingValues(database.client);
      const fromJson = withoutPrefix(staged, 'J');
      const fromAvro = withoutPrefix(staged, 'A');
      expect(fromJson.size).toBe(12);
      expect(fromAvro).toEqual(fromJson);
      // Insert (v1), update under v2 (points, first_name cleared), update under v3 (tier dropped from the table).
      expect(staged.get('A-4')).toEqual({
        cl_custom_last_name: 'Chen',
        display_email: 'c4@example.com',
        display_mobile: '+886911222333',
        birthday: '1989-03-06',
        gender: 'female',
        member_level: 'silver',
        cl_custom_points: 504,
        cl_custom_opt_in_sms: 'true',
        cl_custom_crm_updated_at: '2025-11-28T10:15:30.123Z',
        cl_custom_first_name: null,
      });
      expect([...(await highWatermarks(dlqTopic)).values()]).toEqual([0n]);
    } finally {
      await sut?.close();
      await database.drop();
    }
  });

  it('dead-letters a garbage frame and a payload that does not fit its writer schema, one letter each, and goes on', async () => {
    const database = await migratedDatabase('ingest_avro_bad');
    const topic = uniqueName('avro-bad.avro');
    const dlqTopic = uniqueName('avro-bad.dlq');
    let sut: INestApplication | undefined;
    try {
      await createTopics([{ topic }, { topic: dlqTopic }]);
      const id = await registerAvro(`${topic}-value`, SCHEMAS[1]);
      const other = await registerAvro(`${topic}-other-value`, { type: 'record', name: 'Other', fields: [{ name: 'n', type: 'long' }] });
      sut = await startService(
        testConfig({
          DATABASE_URL: database.url,
          SOURCE_TOPICS: `${topic}:debezium-avro:${EXAMPLE_MAPPING_FILE}`,
          SCHEMA_REGISTRY_URL: registryUrl,
          KAFKA_GROUP_ID: uniqueName('avro-bad'),
          DLQ_TOPIC: dlqTopic,
          IMPORTER_ENABLED: 'false',
        }),
      );
      const good = (n: number) => framedAvro(id, SCHEMAS[1], aDebeziumEvent({ after: aCustomerRow({ customer_id: `G-${n}` }), source: aSource({ ts_ms: BASE_TS + n }) }));
      const garbage = Buffer.from('not a frame at all');
      const wrongSchema = frame(other, toAvro(SCHEMAS[1], aDebeziumEvent()));
      await produce(topic, [
        { key: 'G-1', value: good(1) },
        { key: 'x', value: garbage },
        { key: 'y', value: wrongSchema },
        { key: 'G-2', value: good(2) },
      ]);
      await waitUntilStaged(database.client, topic);

      expect([...(await pendingValues(database.client)).keys()].sort()).toEqual(['G-1', 'G-2']);
      expect(await storedOffset(database.client, topic)).toBe('4');
      const letters = await readTopic(dlqTopic, 2);
      expect(letters.map((letter) => [letter.offset, letter.value, letter.headers[DEAD_LETTER_HEADER.stage], letter.headers[DEAD_LETTER_HEADER.errorClass], letter.headers[DEAD_LETTER_HEADER.offset], letter.headers['caac-sync.errors.schema_id']])).toEqual([
        ['0', garbage, 'decode', 'InvalidFrame', '1', undefined],
        ['1', wrongSchema, 'decode', 'SchemaMismatch', '2', String(other)],
      ]);
    } finally {
      await sut?.close();
      await database.drop();
    }
  });

  it('waits while the registry is down for a schema id it has not seen, skips nothing, shows the registry down, and stages everything once it is back', async () => {
    const database = await migratedDatabase('ingest_avro_outage');
    const topic = uniqueName('avro-outage.avro');
    const dlqTopic = uniqueName('avro-outage.dlq');
    const registry = new URL(registryUrl);
    const proxy = new TcpProxy(registry.hostname, Number(registry.port));
    let sut: INestApplication | undefined;
    try {
      await createTopics([{ topic }, { topic: dlqTopic }]);
      const port = await proxy.start();
      sut = await startService(
        testConfig({
          DATABASE_URL: database.url,
          SOURCE_TOPICS: `${topic}:debezium-avro:${EXAMPLE_MAPPING_FILE}`,
          SCHEMA_REGISTRY_URL: `http://127.0.0.1:${port}${registry.pathname}`,
          SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS: '1000',
          KAFKA_GROUP_ID: uniqueName('avro-outage'),
          DLQ_TOPIC: dlqTopic,
          IMPORTER_ENABLED: 'false',
        }),
      );
      await proxy.stop();
      // Registered straight with the registry: the service has never seen this id.
      const id = await registerAvro(`${topic}-value`, SCHEMAS[1]);
      await produce(
        topic,
        [1, 2, 3].map((n) => ({ key: `O-${n}`, value: framedAvro(id, SCHEMAS[1], aDebeziumEvent({ after: aCustomerRow({ customer_id: `O-${n}` }), source: aSource({ ts_ms: BASE_TS + n }) })) })),
      );
      // Several retries (200 ms doubling) pass while the registry cannot answer.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      expect(await storedOffset(database.client, topic)).toBeUndefined();
      expect((await pendingValues(database.client)).size).toBe(0);
      const ready = await sut.get(ReadinessProbe).check();
      expect(ready.error.schema_registry).toEqual({ status: 'down', reason: 'unreachable' });

      await proxy.start();
      await waitUntilStaged(database.client, topic);
      expect([...(await pendingValues(database.client)).keys()].sort()).toEqual(['O-1', 'O-2', 'O-3']);
      expect([...(await highWatermarks(dlqTopic)).values()]).toEqual([0n]);
    } finally {
      await sut?.close();
      await proxy.stop();
      await database.drop();
    }
  });
});
