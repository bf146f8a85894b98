/**
 * bench:ingest — events/s from the real broker into Postgres staging, next to a consume-only loop
 * of the same client over the same topic in the same run. Prints one JSON line last.
 *
 *   npm run bench:ingest                     # 1,000,000 events over 100,000 contacts
 *   BENCH_EVENTS=200000 npm run bench:ingest # a quicker run
 */
import { spawn } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { genericSinkCost, importsFor } from './generic-sink';
import { createMigratedDatabase, dropDatabase, KAFKA_BROKERS, peakRssMb, profileChangeEvents, serviceCommand, startInfrastructure } from './bench-support';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const RUN = `${Date.now()}`;
const TOPIC = `bench.ingest.${RUN}`;
const DATABASE = `caac_sync_bench_ingest_${RUN}`;

const kafka = new Kafka({ clientId: 'bench-ingest', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
const log = (message: string) => process.stderr.write(`bench:ingest ${message}\n`);

async function produceEvents(): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
  await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const events = profileChangeEvents(EVENTS, CONTACTS);
  const BATCH = 5_000;
  for (let sent = 0; sent < EVENTS; sent += BATCH) {
    const messages = [];
    for (let i = sent; i < Math.min(EVENTS, sent + BATCH); i++) messages.push(events.next().value!);
    await producer.send({ topic: TOPIC, messages });
    if (sent % 200_000 === 0) log(`produced ${sent}`);
  }
  await producer.disconnect();
}

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

async function ingest(url: string): Promise<{ eventsPerS: number; peakRssMb: number; seconds: number }> {
  // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the service.
  const child = spawn(process.execPath, serviceCommand(), {
    env: {
      PATH: process.env.PATH,
      KAFKA_BROKERS,
      SOURCE_TOPICS: `${TOPIC}:profile-change.v1`,
      KAFKA_GROUP_ID: `bench-ingest-${RUN}`,
      DLQ_TOPIC: `bench.dlq.${RUN}`,
      DATABASE_URL: url,
      CAAC_BASE_URL: 'http://127.0.0.1:9',
      CAAC_API_KEY: 'bench',
      ADMIN_TOKEN: 'bench-admin-token-0123456789',
      IMPORTER_ENABLED: 'false',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      // Tuning knobs pass through, so their effect can be measured.
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('INGEST_') || name.startsWith('DATABASE_POOL'))),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const db = new Client({ connectionString: url });
  await db.connect();
  let started = 0;
  let peak = 0;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
      peak = Math.max(peak, peakRssMb(child.pid!));
      const { rows } = await db.query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM consumer_offset WHERE next_offset > 0`);
      const stored = Number(rows[0].n);
      if (stored > 0 && !started) started = performance.now() - 250;
      if (stored >= EVENTS) break;
    }
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, peakRssMb(child.pid!));
    return { eventsPerS: EVENTS / seconds, peakRssMb: peak, seconds };
  } finally {
    child.kill('SIGTERM');
    await db.end();
  }
}

async function main(): Promise<void> {
  startInfrastructure();
  const { url, dataSource } = await createMigratedDatabase(DATABASE, 1);
  await dataSource.destroy();

  log(`producing ${EVENTS} events over ${CONTACTS} contacts (Zipf) to ${TOPIC} (${PARTITIONS} partitions)`);
  await produceEvents();
  log('consume-only loop');
  const consumeOnlyEventsPerS = await consumeOnly();
  log('ingest into Postgres');
  const result = await ingest(url);
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
