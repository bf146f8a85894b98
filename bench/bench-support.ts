import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { ProfileChangeV1 } from '../src/ingest/schemas/profile-change.v1.types';
import { createDataSource, runMigrations } from '../src/store/data-source';
import { seededRandom } from '../scripts/crm/crm-generator';
import { profiledRun, type Stage } from './cpu-stages';

export const REPO = resolve(__dirname, '..');
export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const ADMIN_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** The first start fetches Apicurio Registry from Maven Central (about 100 MB), then starts in ~10 s. */
const REGISTRY_START_TIMEOUT_MS = 300_000;

/**
 * The service's command as `npm run start:prod` runs it (package.json), V8 flags included, so a
 * benchmark measures the memory of the service as shipped; BENCH_NODE_ARGS adds flags (profiling).
 */
export function serviceCommand(nodeArgs: string[] = []): string[] {
  const scripts = (JSON.parse(readFileSync(resolve(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const [node, ...args] = scripts['start:prod']!.split(' ').filter(Boolean);
  if (node !== 'node') throw new Error(`start:prod must run node directly, got: ${scripts['start:prod']}`);
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...extra, ...nodeArgs, ...args.map((arg) => (arg.startsWith('-') ? arg : resolve(REPO, arg)))];
}

/** Starts the local broker and makes sure Postgres answers, unless KAFKA_BROKERS / DATABASE_URL were given. */
export function startInfrastructure(): void {
  startPostgres();
  if (!process.env.KAFKA_BROKERS) execFileSync('bash', [resolve(REPO, 'docker/kafka.sh'), 'start'], { stdio: 'inherit', timeout: 300_000 });
}

/**
 * The Schema Registry's Confluent-compatible API: SCHEMA_REGISTRY_URL when given, else the local
 * registry, started (as `npm run registry:start` does) when it does not answer yet. Never stopped
 * here: others may be using it.
 */
export function startRegistry(): string {
  if (process.env.SCHEMA_REGISTRY_URL) return process.env.SCHEMA_REGISTRY_URL;
  execFileSync('bash', [resolve(REPO, 'docker/registry.sh'), 'start'], { stdio: 'inherit', timeout: REGISTRY_START_TIMEOUT_MS });
  return `http://127.0.0.1:${process.env.REGISTRY_LOCAL_PORT ?? '8081'}/apis/ccompat/v7`;
}

/** Makes sure the machine's Postgres answers, unless DATABASE_URL was given. */
export function startPostgres(): void {
  if (!process.env.DATABASE_URL) execFileSync('bash', [resolve(REPO, 'docker/postgres.sh'), 'ensure'], { stdio: 'inherit' });
}

async function createDatabase(name: string, adminUrl: string): Promise<string> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A new database with the service's schema, and a connection pool of `poolMax` to it. */
export async function createMigratedDatabase(name: string, poolMax: number, adminUrl = ADMIN_DATABASE_URL): Promise<{ url: string; dataSource: DataSource }> {
  const url = await createDatabase(name, adminUrl);
  const dataSource = createDataSource({ url, poolMax });
  await dataSource.initialize();
  await runMigrations(dataSource);
  return { url, dataSource };
}

export async function dropDatabase(name: string, adminUrl = ADMIN_DATABASE_URL): Promise<void> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Peak resident set size of a process so far (Linux VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

/** Samples `Zipf(s)` ranks in [0, n): a few contacts get most of the changes, like real CRMs. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / Math.pow(i + 1, s);
  return () => {
    const target = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * The benchmarks' `profile-change.v1` stream: `events` changes over `contacts` customers (Zipf
 * s = 1.0), a display name on each, a city (sometimes cleared) on a third, custom fields on a fifth.
 * The same seed gives the same contacts and fields in every run.
 */
export function* profileChanges(events: number, contacts: number): Generator<{ key: string; event: ProfileChangeV1 }> {
  const random = seededRandom(7);
  const contact = zipfSampler(contacts, 1.0, random);
  const base = Date.parse('2026-11-01T00:00:00Z');
  for (let i = 0; i < events; i++) {
    const id = `C-${String(contact()).padStart(6, '0')}`;
    const profile: ProfileChangeV1['profile'] = { display_name: `Customer ${i % 9973}` };
    if (i % 3 === 0) profile.city = ['Taipei', 'Tainan', null][(i / 3) % 3];
    if (i % 5 === 0) profile.custom = { points: i % 1000, tier: i % 2 ? 'gold' : 'silver' };
    const event = { event_id: randomUUID(), occurred_at: new Date(base + i).toISOString(), key: { customer_id: id }, profile };
    yield { key: id, event };
  }
}

/** The same stream as JSON text, as a `profile-change.v1` topic carries it. */
export function* profileChangeEvents(events: number, contacts: number): Generator<{ key: string; value: string }> {
  for (const { key, event } of profileChanges(events, contacts)) yield { key, value: JSON.stringify(event) };
}

/** Creates `topic` with `partitions` and produces `count` messages from `messages` to it, 5,000 a request. */
export async function produceTopic(
  topic: string,
  partitions: number,
  messages: Iterator<{ key: string; value: string | Buffer }>,
  count: number,
  log: (message: string) => void,
): Promise<void> {
  const kafka = new Kafka({ clientId: 'bench-producer', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const BATCH = 5_000;
  for (let sent = 0; sent < count; sent += BATCH) {
    const batch = [];
    for (let i = sent; i < Math.min(count, sent + BATCH); i++) batch.push(messages.next().value!);
    await producer.send({ topic, messages: batch });
    if (sent % 200_000 === 0) log(`produced ${sent}`);
  }
  await producer.disconnect();
}

export interface ServiceIngestRun {
  eventsPerS: number;
  seconds: number;
  peakRssMb: number;
  /** With BENCH_PROFILE=1: the service's main thread, µs an event by stage (bench/cpu-stages.ts). */
  mainThreadUsPerEvent?: Record<Stage, number>;
}

/**
 * The service as its own process (`start:prod`), importer off, consuming `sourceTopics` into the
 * database at `url`. `INGEST_*` and `DATABASE_POOL*` settings of this process pass through, so their
 * effect can be measured; BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles it.
 */
export function spawnIngestService(options: { url: string; sourceTopics: string; groupId: string; dlqTopic: string; schemaRegistryUrl?: string; nodeArgs?: string[] }): ChildProcess {
  return spawn(process.execPath, serviceCommand(options.nodeArgs), {
    env: {
      PATH: process.env.PATH,
      KAFKA_BROKERS,
      SOURCE_TOPICS: options.sourceTopics,
      KAFKA_GROUP_ID: options.groupId,
      DLQ_TOPIC: options.dlqTopic,
      DATABASE_URL: options.url,
      CAAC_BASE_URL: 'http://127.0.0.1:9',
      CAAC_API_KEY: 'bench',
      ADMIN_TOKEN: 'bench-admin-token-0123456789',
      IMPORTER_ENABLED: 'false',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      ...(options.schemaRegistryUrl ? { SCHEMA_REGISTRY_URL: options.schemaRegistryUrl } : {}),
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('INGEST_') || name.startsWith('DATABASE_POOL'))),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

/**
 * Runs the service as its own process (`start:prod`, importer off) on `sourceTopics` into the
 * database at `url`, timed from its first stored batch until the stored offsets add up to
 * `events`; stops it then (see spawnIngestService).
 */
export async function runServiceIngest(options: {
  url: string;
  sourceTopics: string;
  events: number;
  run: string;
  timeoutMs?: number;
  /** For topics read through a Schema Registry (`profile-change.v1-avro`). */
  schemaRegistryUrl?: string;
}): Promise<ServiceIngestRun> {
  const profile = process.env.BENCH_PROFILE === '1' ? profiledRun() : undefined;
  const child = spawnIngestService({
    url: options.url,
    sourceTopics: options.sourceTopics,
    groupId: `bench-ingest-${options.run}`,
    dlqTopic: `bench.dlq.${options.run}`,
    ...(options.schemaRegistryUrl ? { schemaRegistryUrl: options.schemaRegistryUrl } : {}),
    nodeArgs: profile?.nodeArgs ?? [],
  });
  const db = new Client({ connectionString: options.url });
  await db.connect();
  const deadline = Date.now() + (options.timeoutMs ?? 1_800_000);
  let started = 0;
  let peak = 0;
  let result: ServiceIngestRun;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`ingest did not reach ${options.events} events in time`);
      peak = Math.max(peak, peakRssMb(child.pid!));
      const { rows } = await db.query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM consumer_offset WHERE next_offset > 0`);
      const stored = Number(rows[0].n);
      if (stored > 0 && !started) started = performance.now() - 250;
      if (stored >= options.events) break;
    }
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, peakRssMb(child.pid!));
    result = { eventsPerS: options.events / seconds, peakRssMb: peak, seconds };
  } finally {
    child.kill('SIGTERM');
    await db.end();
  }
  if (profile) {
    await exited(child); // the profile is written as the process exits
    const stages = profile.stagesPerEvent(options.events);
    if (stages !== undefined) result.mainThreadUsPerEvent = stages;
  }
  return result;
}

/** Resolves once `child` has exited, or after `timeoutMs` (a service that does not stop is left to its caller). */
export async function exited(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r))),
    new Promise((r) => (timer = setTimeout(r, timeoutMs))),
  ]);
  clearTimeout(timer);
}

/** The nearest-rank percentile `p` (0-100) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
