/**
 * bench:ingest — events/s from the real broker into Postgres staging, next to a consume-only loop
 * of the same client over the same topic in the same run. Prints one JSON line last.
 *
 *   npm run bench:ingest                     # 1,000,000 events over 100,000 contacts
 *   BENCH_EVENTS=200000 npm run bench:ingest # a quicker run
 */
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { genericSinkCost, importsFor } from './generic-sink';
import { createMigratedDatabase, dropDatabase, KAFKA_BROKERS, produceTopic, profileChangeEvents, runServiceIngest, startInfrastructure } from './bench-support';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const RUN = `${Date.now()}`;
const TOPIC = `bench.ingest.${RUN}`;
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

async function main(): Promise<void> {
  startInfrastructure();
  const { url, dataSource } = await createMigratedDatabase(DATABASE, 1);
  await dataSource.destroy();

  log(`producing ${EVENTS} events over ${CONTACTS} contacts (Zipf) to ${TOPIC} (${PARTITIONS} partitions)`);
  await produceTopic(TOPIC, PARTITIONS, profileChangeEvents(EVENTS, CONTACTS), EVENTS, log);
  log('consume-only loop');
  const consumeOnlyEventsPerS = await consumeOnly();
  log('ingest into Postgres');
  const result = await runServiceIngest({ url, sourceTopics: `${TOPIC}:profile-change.v1`, events: EVENTS, run: RUN });
  const db = new Client({ connectionString: url });
  await db.connect();
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM pending_change`);
  await db.end();
  await dropDatabase(DATABASE);

  process.stdout.write(
    JSON.stringify({
      case: 'ingest',
      events: EVENTS,
      contacts: CONTACTS,
      partitions: PARTITIONS,
      pending_contacts: rows[0].n,
      seconds: Number(result.seconds.toFixed(2)),
      events_per_s: Math.round(result.eventsPerS),
      consume_only_events_per_s: Math.round(consumeOnlyEventsPerS),
      ratio: Number((result.eventsPerS / consumeOnlyEventsPerS).toFixed(3)),
      peak_rss_mb: result.peakRssMb,
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
