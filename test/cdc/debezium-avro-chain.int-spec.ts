/**
 * The real CDC chain with Avro: a CRM table in Postgres -> Debezium in a Kafka Connect worker with
 * Apicurio's Avro converter (docker/connect.sh, CDC_VALUE_FORMAT=avro) registering in the local
 * Apicurio Registry (docker/registry.sh) -> Kafka, framed in Confluent's wire format. The bytes a
 * real worker writes are read back through the service's registry client and `debezium-avro`
 * decoder, and each change must give exactly what the JSON path gives for the same row.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { applyCrmSchema } from '../../scripts/crm/crm-generator';
import { loadConfig } from '../../src/config/app-config';
import { createDebeziumDecoder, parseDebeziumMapping } from '../../src/ingest/decoders';
import { TopicDecoders } from '../../src/ingest/topic-decoders';
import { readFrame } from '../../src/schema-registry/wire-format';
import { cdcConnector, deleteTopics, waitForTopic, type CdcConnector } from '../support/cdc-chain';
import { freshDatabase } from '../support/database';
import { readTopic } from '../support/kafka-io';
import { testRegistryUrl } from '../support/schema-registry';

const REPO = resolve(__dirname, '../..');
const MAPPING_FILE = resolve(REPO, 'config/customers.mapping.json');
const EVENTS_TIMEOUT_MS = 60_000;

type Json = Record<string, any>;

/** A customers row as Debezium's JSON converter (no schema) puts it in before/after. */
async function debeziumRow(db: Client, id: string): Promise<Json> {
  const { rows } = await db.query(
    `SELECT customer_id, first_name, last_name, email, mobile, (birthday - date '1970-01-01') AS birthday, gender, tier, points, opt_in_sms
       FROM customers WHERE customer_id = $1`,
    [id],
  );
  return rows[0]!;
}

describe('Debezium chain with the Avro converter and the Schema Registry', () => {
  let chain: CdcConnector | undefined;
  let db: Client;
  let dropDatabase: (() => Promise<void>) | undefined;

  afterAll(async () => {
    await chain?.reset();
    await db?.end();
    await dropDatabase?.();
    if (chain) await deleteTopics([chain.topic]);
  });

  it('writes framed Avro that the service decodes, change for change, as the JSON path decodes the same rows', async () => {
    const ccompatUrl = await testRegistryUrl();
    const registry = new URL(ccompatUrl);
    const database = await freshDatabase('crm_avro_chain');
    dropDatabase = database.drop;
    db = new Client({ connectionString: database.url });
    await db.connect();
    await applyCrmSchema(db);
    await db.query(
      `INSERT INTO customers (customer_id, first_name, last_name, email, mobile, birthday, gender, tier, points, opt_in_sms)
       VALUES ('AV-1', 'Amy', 'Lin', ' Amy@Example.com ', '0912-345-678', '1990-04-01', 'F', 'Gold', 120, true),
              ('AV-2', NULL, 'Chen', NULL, '0911 222 333', NULL, NULL, NULL, 0, false)`,
    );
    const seeded = [await debeziumRow(db, 'AV-1'), await debeziumRow(db, 'AV-2')];

    chain = await cdcConnector({
      databaseUrl: database.url,
      label: 'avro',
      valueFormat: 'avro',
      registryUrl: `${registry.origin}/apis/registry/v2`,
    });
    await chain.run('start');
    await waitForTopic(chain.topic, EVENTS_TIMEOUT_MS);
    await db.query(`UPDATE customers SET tier = 'Silver', points = 130, first_name = NULL WHERE customer_id = 'AV-1'`);
    const updated = await debeziumRow(db, 'AV-1');

    const events = (await readTopic(chain.topic, 3, EVENTS_TIMEOUT_MS)).sort((a, b) => Number(a.offset) - Number(b.offset));
    const frames = events.map((event) => readFrame(event.value!));
    expect(frames.every((frame) => frame.ok)).toBe(true);

    const sut = new TopicDecoders(
      loadConfig({
        KAFKA_BROKERS: '127.0.0.1:9092',
        SOURCE_TOPICS: `${chain.topic}:debezium-avro:${MAPPING_FILE}`,
        SCHEMA_REGISTRY_URL: ccompatUrl,
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
        CAAC_BASE_URL: 'http://127.0.0.1:4010',
        CAAC_API_KEY: 'sandbox-key',
        ADMIN_TOKEN: 'test-admin-token-0123456789',
      }),
    );
    const values = events.map((event) => event.value);
    const decode = await sut.prepare(chain.topic, values);
    const now = Date.now();
    const results = values.map((value) => decode(value, now));

    // The JSON path on the same changes: the rows as the JSON converter writes them, at the source
    // times the Avro events carry.
    const mapping = parseDebeziumMapping(JSON.parse(readFileSync(MAPPING_FILE, 'utf8')), MAPPING_FILE);
    const json = createDebeziumDecoder(mapping, { defaultPhoneRegion: 'TW', maxFutureSkewMs: 86_400_000 });
    const sourceTs = results.map((result) => (result.kind === 'change' ? result.change.sourceTs : NaN));
    const asJson = (op: string, before: Json | null, after: Json, ts: number) =>
      json(Buffer.from(JSON.stringify({ op, before, after, source: { ts_ms: ts }, ts_ms: ts })), now);
    expect(results).toEqual([
      asJson('r', null, seeded[0]!, sourceTs[0]!),
      asJson('r', null, seeded[1]!, sourceTs[1]!),
      asJson('u', seeded[0]!, updated, sourceTs[2]!),
    ]);
    expect(results[2]).toMatchObject({
      kind: 'change',
      change: { key: { type: 'customer_id', value: 'AV-1' }, patch: { member_level: 'silver', cl_custom_points: 130, cl_custom_first_name: null } },
    });
  });
});
