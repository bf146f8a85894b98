/**
 * bench:ingest — events/s from the real broker into Postgres staging, next to a consume-only loop
 * of the same client over the same topic in the same run. Prints one JSON line last.
 *
 *   npm run bench:ingest                     # 1,000,000 events over 100,000 contacts
 *   BENCH_EVENTS=200000 npm run bench:ingest # a quicker run
 *   BENCH_FORMAT=avro npm run bench:ingest   # the same events in Avro through the Schema Registry
 *   BENCH_PROFILE=1 npm run bench:ingest     # adds the service's main thread by stage (bench/cpu-stages.ts)
 *
 * BENCH_FORMAT=avro frames the events as the example producer does (examples/producer: the schema
 * registered under `<topic>-value`, Confluent's wire format) and the service reads the topic as
 * `profile-change.v1-avro`; the local registry is started unless SCHEMA_REGISTRY_URL is given.
 */
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { profileChangeAvroEncoder } from '../examples/producer/producer';
import { genericSinkCost, importsFor } from './generic-sink';
import {
  createMigratedDatabase,
  dropDatabase,
  KAFKA_BROKERS,
  produceTopic,
  profileChanges,
  runServiceIngest,
  startInfrastructure,
  startRegistry,
} from './bench-support';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const FORMAT = process.env.BENCH_FORMAT ?? 'json';
if (FORMAT !== 'json' && FORMAT !== 'avro') throw new Error(`BENCH_FORMAT must be json or avro, got ${FORMAT}`);
const RUN = `${Date.now()}`;
const TOPIC = FORMAT === 'avro' ? `bench.ingest-avro.${RUN}` : `bench.ingest.${RUN}`;
const DATABASE = `caac_sync_bench_ingest_${RUN}`;

const kafka = new Kafka({ clientId: 'bench-ingest', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
const log = (message: string) => process.stderr.write(`bench:ingest ${message}\n`);

/** The client alone: read every message of the topic and do nothing with it. */
async function consumeOnly(): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-consume-only-${RUN}`, maxBytesPerPartition: 1_048_576, maxBytes: 4_194_304 });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  let seen = 0;
  let started = 0;
  const done = new Promise<number>((resolveDone) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!started) started = performance.now();
        seen += batch.messages.length;
        if (seen >= EVENTS) resolveDone(performance.now());
      },
    });
  });
  const ended = await done;
  await consumer.disconnect();
  return (EVENTS / (ended - started)) * 1000;
}

/** The topic's messages in the bench's format, counting the bytes of their values into `bytes`. */
async function encodedEvents(bytes: { total: number }, registryUrl: string | undefined): Promise<Iterator<{ key: string; value: string | Buffer }>> {
  const encode = registryUrl
    ? await profileChangeAvroEncoder({ registryUrl, subject: `${TOPIC}-value` })
    : (event: object): string | Buffer => JSON.stringify(event);
  return (function* () {
    for (const { key, event } of profileChanges(EVENTS, CONTACTS)) {
      const value = encode(event);
      bytes.total += typeof value === 'string' ? Buffer.byteLength(value) : value.length;
      yield { key, value };
    }
  })();
}

async function main(): Promise<void> {
  startInfrastructure();
  const registryUrl = FORMAT === 'avro' ? startRegistry() : undefined;
  const { url, dataSource } = await createMigratedDatabase(DATABASE, 1);
  await dataSource.destroy();

  log(`producing ${EVENTS} ${FORMAT} events over ${CONTACTS} contacts (Zipf) to ${TOPIC} (${PARTITIONS} partitions)`);
  const bytes = { total: 0 };
  await produceTopic(TOPIC, PARTITIONS, await encodedEvents(bytes, registryUrl), EVENTS, log);
  log('consume-only loop');
  const consumeOnlyEventsPerS = await consumeOnly();
  log('ingest into Postgres');
  const result = await runServiceIngest({
    url,
    sourceTopics: `${TOPIC}:${FORMAT === 'avro' ? 'profile-change.v1-avro' : 'profile-change.v1'}`,
    events: EVENTS,
    run: RUN,
    ...(registryUrl ? { schemaRegistryUrl: registryUrl } : {}),
  });
  const db = new Client({ connectionString: url });
  await db.connect();
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM pending_change`);
  // Every event of the stream is valid: a dead letter here means the format, not the data, failed.
  const letters = await db.query(`SELECT count(*)::int AS n FROM dead_letter_outbox`);
  await db.end();
  await dropDatabase(DATABASE);

  process.stdout.write(
    JSON.stringify({
      case: 'ingest',
      format: FORMAT,
      events: EVENTS,
      contacts: CONTACTS,
      partitions: PARTITIONS,
      pending_contacts: rows[0].n,
      dead_letters: letters.rows[0].n,
      mean_value_bytes: Math.round(bytes.total / EVENTS),
      seconds: Number(result.seconds.toFixed(2)),
      events_per_s: Math.round(result.eventsPerS),
      consume_only_events_per_s: Math.round(consumeOnlyEventsPerS),
      ratio: Number((result.eventsPerS / consumeOnlyEventsPerS).toFixed(3)),
      peak_rss_mb: result.peakRssMb,
      ...(result.mainThreadUsPerEvent ? { main_thread_us_per_event: result.mainThreadUsPerEvent } : {}),
      // The importer is off here: the service would send each staged contact once, in full imports.
      generic_sink: genericSinkCost([EVENTS], importsFor(rows[0].n)),
    }) + '\n',
  );
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench:ingest failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
