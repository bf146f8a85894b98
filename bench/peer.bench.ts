/**
 * bench:peer — the service next to a peer on the same events and the same Postgres: the Debezium
 * JDBC sink connector (docker/connect.sh sink) in a Kafka Connect worker, upserting every change
 * event into a mirror table. Both read one topic of Debezium change events with the JSON
 * converter's schema wrapper, one after the other (never at once, so CPU figures stay apart), each
 * into a fresh database. Prints one JSON line last.
 *
 *   npm run bench:peer                                       # 1,000,000 events over 100,000 rows
 *   BENCH_EVENTS=100000 BENCH_ROWS=10000 npm run bench:peer  # a quicker run
 *
 * Other knobs: BENCH_ORDER (service,sink or sink,service) [service,sink], BENCH_SINK_TASKS
 * (tasks.max) [2], BENCH_SINK_BATCH_SIZE (batch.size) [1000], BENCH_PARTITIONS [4]. BENCH_PROFILE=1
 * runs the service under V8's CPU profiler and adds where its main thread spent its time, by
 * ingest stage (bench/cpu-stages.ts), to the service's result.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { genericSinkCost, importsFor } from './generic-sink';
import { freePort } from '../test/support/free-port';
import { ADMIN_DATABASE_URL, createMigratedDatabase, dropDatabase, exited, KAFKA_BROKERS, peakRssMb, REPO, spawnIngestService, startInfrastructure } from './bench-support';
import { debeziumCustomerEvents, type DebeziumStreamSummary } from './debezium-customer-events';
import { databaseBackendsCpuS, kafkaBrokerPid, postgresCpuS, processCpuS } from './proc-cpu';
import { profiledRun, type Stage } from './cpu-stages';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const ORDER = (process.env.BENCH_ORDER ?? 'service,sink').split(',') as Array<'service' | 'sink'>;
const SINK_TASKS = Number(process.env.BENCH_SINK_TASKS ?? 2); // one a core
const SINK_BATCH_SIZE = Number(process.env.BENCH_SINK_BATCH_SIZE ?? 1_000);
const PROFILE = process.env.BENCH_PROFILE === '1';
// What a user tunes for these 4.4 KB events, as the sink is tuned below (docs/configuration.md);
// INGEST_MAX_BYTES_PER_PARTITION given to the benchmark wins.
process.env.INGEST_MAX_BYTES_PER_PARTITION ??= String(8 * 1_048_576);
const RUN = `${Date.now()}`;
// Named like a Debezium topic (<prefix>.<schema>.<table>); the prefix also names the schemas.
const TOPIC = `benchpeer${RUN}.public.customers`;
const SERVICE_DATABASE = `caac_sync_bench_peer_${RUN}`;
const SINK_DATABASE = `caac_sync_bench_peer_sink_${RUN}`;
const SINK_TABLE = 'customers';
const CONNECTOR = `bench-peer-${RUN}`;
const SERVICE_GROUP = `bench-peer-${RUN}`;
const SINK_GROUP = `connect-${CONNECTOR}`; // Connect names a sink connector's consumer group so
const DLQ_TOPIC = `bench.dlq.${RUN}`;
const CONNECT_SCRIPT = resolve(REPO, 'docker/connect.sh');
const CONNECT_DIR = resolve(REPO, '.cache/connect');

const POLL_MS = 250;
const PHASE_TIMEOUT_MS = 30 * 60_000; // a phase that has not finished by then has stalled
const CONNECT_START_TIMEOUT_MS = 600_000; // the first start fetches Connect and the sink from Maven Central
const CONNECT_COMMAND_TIMEOUT_MS = 60_000;
const SERVICE_STOP_TIMEOUT_MS = 15_000;
const PRODUCE_BATCH = 500; // ~2 MB of ~4 KB events: under the broker's 1 MB per partition and request

const kafka = new Kafka({ clientId: 'bench-peer', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
const log = (message: string) => process.stderr.write(`bench:peer ${message}\n`);
const run = promisify(execFile);

interface PhaseResult {
  seconds: number;
  events_per_s: number;
  /** CPU seconds over the timed window (first progress to the end), by process. */
  cpu_s: { process: number; postgres_all: number; postgres_backends: number; kafka_broker: number };
  /** The process's CPU seconds from its start to the end, startup included. */
  process_cpu_s_total: number;
  peak_rss_mb: number;
  rows_written: number;
  /** With BENCH_PROFILE=1: the service's main thread, µs an event by stage, over its whole run (start-up included). */
  main_thread_us_per_event?: Record<Stage, number>;
}

/** What is sampled in every poll of a phase: one process, its database's backends, the broker. */
class PhaseMeter {
  private started = 0;
  private progressAtStart = 0;
  private atStart = { process: 0, postgres: 0, broker: 0 };
  private backendsAtStart = new Map<number, number>();
  private backendsLast = new Map<number, number>();
  private peak = 0;

  constructor(
    private readonly pid: number,
    private readonly database: string,
    private readonly brokerPid: number | undefined,
  ) {}

  sample(): void {
    this.peak = Math.max(this.peak, peakRssMb(this.pid));
    for (const [pid, cpu] of databaseBackendsCpuS(this.database)) this.backendsLast.set(pid, cpu);
  }

  /** Progress seen for the first time: the timed window opens here. */
  start(progress: number): void {
    this.started = performance.now();
    this.progressAtStart = progress;
    this.atStart = { process: processCpuS(this.pid), postgres: postgresCpuS(), broker: this.brokerCpu() };
    this.backendsAtStart = databaseBackendsCpuS(this.database);
    this.backendsLast = new Map(this.backendsAtStart);
  }

  get isStarted(): boolean {
    return this.started > 0;
  }

  finish(rowsWritten: number): PhaseResult {
    const seconds = (performance.now() - this.started) / 1000;
    this.sample();
    const processCpu = processCpuS(this.pid);
    let backends = 0;
    for (const [pid, cpu] of this.backendsLast) backends += cpu - (this.backendsAtStart.get(pid) ?? 0);
    const round = (value: number) => Number(value.toFixed(2));
    return {
      seconds: round(seconds),
      // Events handled between the first and the last reading, over the time between them.
      events_per_s: Math.round((EVENTS - this.progressAtStart) / seconds),
      cpu_s: {
        process: round(processCpu - this.atStart.process),
        postgres_all: round(postgresCpuS() - this.atStart.postgres),
        postgres_backends: round(backends),
        kafka_broker: round(this.brokerCpu() - this.atStart.broker),
      },
      process_cpu_s_total: round(processCpu),
      peak_rss_mb: this.peak,
      rows_written: rowsWritten,
    };
  }

  private brokerCpu(): number {
    return this.brokerPid === undefined ? NaN : processCpuS(this.brokerPid);
  }
}

async function produceEvents(summary: DebeziumStreamSummary): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
  await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  // kafkajs's default partitioner hashes the key as Kafka's does: a row's events share a partition.
  const events = debeziumCustomerEvents(EVENTS, ROWS, TOPIC, summary);
  let batch: Array<{ key: string; value: string | null }> = [];
  let sent = 0;
  for (const event of events) {
    batch.push(event);
    if (batch.length < PRODUCE_BATCH) continue;
    await producer.send({ topic: TOPIC, messages: batch });
    sent += batch.length;
    batch = [];
    if (sent % 100_000 === 0) log(`produced ${sent}`);
  }
  if (batch.length) await producer.send({ topic: TOPIC, messages: batch });
  await producer.disconnect();
}

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function count(url: string, sql: string): Promise<Record<string, number>> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const { rows } = await db.query(sql);
    return Object.fromEntries(Object.entries(rows[0] as Record<string, unknown>).map(([name, value]) => [name, Number(value)]));
  } finally {
    await db.end();
  }
}

/** Polls `progress` until it reaches EVENTS, sampling the meter; bounded by PHASE_TIMEOUT_MS. */
async function timePhase(name: string, meter: PhaseMeter, progress: () => Promise<number>, alive: () => void): Promise<void> {
  const deadline = performance.now() + PHASE_TIMEOUT_MS;
  let lastLog = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    alive();
    meter.sample();
    const done = await progress();
    if (done > 0 && !meter.isStarted) meter.start(done);
    if (done >= EVENTS) return;
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(`${name}: ${done} of ${EVENTS} events`);
    }
    if (performance.now() > deadline) throw new Error(`${name}: ${done} of ${EVENTS} events after ${PHASE_TIMEOUT_MS / 60_000} min`);
  }
}

async function runService(brokerPid: number | undefined): Promise<PhaseResult> {
  const { url, dataSource } = await createMigratedDatabase(SERVICE_DATABASE, 1);
  await dataSource.destroy();
  const profile = PROFILE ? profiledRun() : undefined;
  const child = spawnIngestService({
    url,
    sourceTopics: `${TOPIC}:debezium:${resolve(REPO, 'config/customers.mapping.json')}`,
    groupId: SERVICE_GROUP,
    dlqTopic: DLQ_TOPIC,
    nodeArgs: profile?.nodeArgs ?? [],
  });
  let result: PhaseResult | undefined;
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const meter = new PhaseMeter(child.pid!, SERVICE_DATABASE, brokerPid);
    await timePhase(
      'service',
      meter,
      async () => {
        const { rows } = await db.query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM consumer_offset WHERE next_offset > 0`);
        return Number(rows[0].n);
      },
      () => {
        if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
      },
    );
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM pending_change`);
    result = meter.finish(rows[0].n);
  } finally {
    child.kill('SIGTERM');
    await db.end();
    // The next phase measures the machine again: the service must be gone by then (and its profile written).
    await exited(child, SERVICE_STOP_TIMEOUT_MS);
  }
  if (profile) {
    const stages = profile.stagesPerEvent(EVENTS);
    if (stages === undefined) log('the service wrote no CPU profile (it did not exit in time)');
    else result.main_thread_us_per_event = stages;
  }
  return result;
}

/** `docker/connect.sh sink <command>` for this run's connector, on its own port and state. */
function connectSink(port: number): (command: 'start' | 'reset') => Promise<void> {
  const env = {
    ...process.env,
    CONNECT_NAME: CONNECTOR,
    CONNECT_PORT: String(port),
    CONNECT_KAFKA_BROKERS: KAFKA_BROKERS,
    CONNECT_LOCAL_DIR: CONNECT_DIR,
    SINK_DATABASE_URL: databaseUrl(SINK_DATABASE),
    SINK_TOPICS: TOPIC,
    SINK_TABLE,
    SINK_TASKS: String(SINK_TASKS),
    SINK_BATCH_SIZE: String(SINK_BATCH_SIZE),
  };
  return async (command) => {
    try {
      const { stderr } = await run('bash', [CONNECT_SCRIPT, 'sink', command], {
        env,
        timeout: command === 'start' ? CONNECT_START_TIMEOUT_MS : CONNECT_COMMAND_TIMEOUT_MS,
      });
      for (const line of stderr.trim().split('\n')) if (line) log(line);
    } catch (error) {
      const { stderr, message } = error as { stderr?: string; message: string };
      throw new Error(`docker/connect.sh sink ${command} failed: ${stderr?.trim() || message}`);
    }
  };
}

async function runSink(port: number, brokerPid: number | undefined, summary: DebeziumStreamSummary): Promise<PhaseResult> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${SINK_DATABASE}"`);
  await admin.end();
  const sink = connectSink(port);
  await sink('start');
  const pid = Number(readFileSync(resolve(CONNECT_DIR, `worker-${port}`, 'connect.pid'), 'utf8').trim());
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  try {
    const meter = new PhaseMeter(pid, SINK_DATABASE, brokerPid);
    await timePhase(
      'sink',
      meter,
      async () => {
        // Committed every offset.flush.interval.ms (1 s, docker/connect.sh), after the rows are written.
        const [offsets] = await kafkaAdmin.fetchOffsets({ groupId: SINK_GROUP, topics: [TOPIC] });
        return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      },
      () => process.kill(pid, 0), // throws once the worker is gone
    );
    const rows = await count(databaseUrl(SINK_DATABASE), `SELECT count(*) AS n, coalesce(sum(points), 0) AS points FROM "${SINK_TABLE}"`);
    if (rows.n !== summary.liveRows || rows.points !== summary.livePoints) {
      log(`the sink table holds ${rows.n} rows (points ${rows.points}); the stream leaves ${summary.liveRows} (points ${summary.livePoints})`);
    }
    return meter.finish(rows.n!);
  } finally {
    await kafkaAdmin.disconnect();
    await sink('reset'); // stops the worker before the next phase
  }
}

async function cleanUp(sinkReset: (command: 'reset') => Promise<void>): Promise<void> {
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['stop the Connect worker', () => sinkReset('reset')],
    ['drop the service database', () => dropDatabase(SERVICE_DATABASE)],
    ['drop the sink database', () => dropDatabase(SINK_DATABASE)],
    [
      'delete the topics and groups',
      async () => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          const existing = new Set(await admin.listTopics());
          const topics = [TOPIC, DLQ_TOPIC].filter((topic) => existing.has(topic));
          if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
          const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g === SERVICE_GROUP || g === SINK_GROUP);
          if (groups.length) await admin.deleteGroups(groups).catch(() => undefined); // gone with their topic
        } finally {
          await admin.disconnect();
        }
      },
    ],
  ];
  for (const [what, step] of steps) {
    await step().catch((error) => log(`could not ${what}: ${(error as Error).message}`));
  }
}

async function main(): Promise<void> {
  startInfrastructure();
  const port = await freePort();
  const sinkCommand = connectSink(port);
  const brokerPid = kafkaBrokerPid(KAFKA_BROKERS.split(',')[0]!.split(':')[1] ?? '9092');
  if (brokerPid === undefined) log('no local broker process found: its CPU is not measured');
  const summary = {} as DebeziumStreamSummary;
  const results: Partial<Record<'service' | 'sink', PhaseResult>> = {};
  const load: number[] = [];
  try {
    log(`producing ${EVENTS} Debezium events (schemas on) over ${ROWS} rows (uniform) to ${TOPIC} (${PARTITIONS} partitions)`);
    const produced = performance.now();
    await produceEvents(summary);
    log(`produced in ${((performance.now() - produced) / 1000).toFixed(1)} s: ${JSON.stringify(summary)}`);
    for (const phase of ORDER) {
      log(`${phase} (load ${loadavg()[0]!.toFixed(2)})`);
      load.push(loadavg()[0]!);
      results[phase] = phase === 'service' ? await runService(brokerPid) : await runSink(port, brokerPid, summary);
      log(`${phase}: ${JSON.stringify(results[phase])}`);
    }
    load.push(loadavg()[0]!);
  } finally {
    await cleanUp(sinkCommand);
  }
  // A run of one phase alone (BENCH_ORDER=sink) prints that phase only.
  const { service, sink } = results;
  process.stdout.write(
    JSON.stringify({
      case: 'peer',
      events: EVENTS,
      rows: ROWS,
      partitions: PARTITIONS,
      order: ORDER.join(','),
      stream: summary,
      service: service ?? null,
      sink: sink ? { ...sink, tasks: SINK_TASKS, batch_size: SINK_BATCH_SIZE, rows_expected: summary.liveRows } : null,
      service_to_sink: service && sink ? Number((service.events_per_s / sink.events_per_s).toFixed(2)) : null,
      load_1m: load.map((value) => Number(value.toFixed(2))),
      // The importer is off here: the service would send each staged contact once, in full imports.
      generic_sink: service ? genericSinkCost([EVENTS], importsFor(service.rows_written)) : null,
    }) + '\n',
  );
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench:peer failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
