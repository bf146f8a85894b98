/**
 * bench:import — how well the importer spends the Profile API against the sandbox at the API's
 * real rate (15 imports a minute) and a task time of 1 s + 0.1 ms a row:
 *   1. drain: N distinct contacts staged, then imported; imports vs ceil(N/10,000), mean fill,
 *      429s, and the drain time vs its lower bound (every import waits for the previous task and
 *      for the rate: start[k+1] >= max(start[k] + 60 s/15, finish[k])).
 *   2. trickle: 20 events/s, each a new contact; event -> task done latency p50/p99, against the
 *      flush interval + task time + 1 s.
 * Prints one JSON line last.  BENCH_CONTACTS [100000], BENCH_TRICKLE_S [40], BENCH_FLUSH_MS [10000].
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { Client } from 'pg';
import { startSandbox } from '../src/sandbox/sandbox.server';
import { createMigratedDatabase, dropDatabase, KAFKA_BROKERS, serviceCommand, startInfrastructure } from './bench-support';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const TRICKLE_S = Number(process.env.BENCH_TRICKLE_S ?? 40);
const TRICKLE_RATE = 20;
const FLUSH_MS = Number(process.env.BENCH_FLUSH_MS ?? 10_000);
const MAX_ROWS = 10_000;
const WINDOW_MS = 60_000;
const RATE = 15;
const TASK_MIN_MS = 1_000;
const TASK_MS_PER_ROW = 0.1;
const RUN = `${Date.now()}`;
const DATABASE = `caac_sync_bench_import_${RUN}`;
const DRAIN_TOPIC = `bench.import.${RUN}`;
const TRICKLE_TOPIC = `bench.trickle.${RUN}`;

const kafka = new Kafka({ clientId: 'bench-import', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
const log = (message: string) => process.stderr.write(`bench:import ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function event(customerId: string, i: number, at = Date.now()): string {
  return JSON.stringify({ event_id: randomUUID(), occurred_at: new Date(at).toISOString(), key: { customer_id: customerId }, profile: { display_name: `Customer ${i}`, custom: { points: i % 1000 } } });
}

function startService(url: string, sandboxUrl: string, importer: boolean): ChildProcess {
  return spawn(process.execPath, serviceCommand(), {
    env: {
      PATH: process.env.PATH,
      KAFKA_BROKERS,
      SOURCE_TOPICS: `${DRAIN_TOPIC}:profile-change.v1,${TRICKLE_TOPIC}:profile-change.v1`,
      KAFKA_GROUP_ID: `bench-import-${RUN}`,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      DLQ_TOPIC: `bench.import.dlq.${RUN}`,
      DATABASE_URL: url,
      CAAC_BASE_URL: sandboxUrl,
      CAAC_API_KEY: 'sandbox-key',
      ADMIN_TOKEN: 'bench-admin-token-0123456789',
      IMPORTER_ENABLED: String(importer),
      FLUSH_INTERVAL_MS: String(FLUSH_MS),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface Task { task_id: string; kind: string; rows: number; accepted_at: string; finished_at: string; status: string }
interface Request { method: string; path: string; status: number }

async function sandboxLog(url: string): Promise<{ requests: Request[]; tasks: Task[] }> {
  return (await (await fetch(`${url}/__sandbox/requests`)).json()) as { requests: Request[]; tasks: Task[] };
}

async function main(): Promise<void> {
  startInfrastructure();
  const sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: RATE, taskMinMs: TASK_MIN_MS, taskMsPerRow: TASK_MS_PER_ROW });
  const { url, dataSource } = await createMigratedDatabase(DATABASE, 1);
  await dataSource.destroy();
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: DRAIN_TOPIC, numPartitions: 3 }, { topic: TRICKLE_TOPIC, numPartitions: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const db = new Client({ connectionString: url });
  await db.connect();

  // 1. Drain: stage N distinct contacts with the importer off, then let it run.
  log(`staging ${CONTACTS} contacts`);
  for (let i = 0; i < CONTACTS; i += 5_000) {
    const messages = [];
    for (let j = i; j < Math.min(CONTACTS, i + 5_000); j++) messages.push({ value: event(`B-${String(j).padStart(7, '0')}`, j, Date.parse('2026-11-01') + j) });
    await producer.send({ topic: DRAIN_TOPIC, messages });
  }
  let service = startService(url, sandbox.url, false);
  for (;;) {
    await sleep(250);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM pending_change`);
    if (rows[0].n >= CONTACTS) break;
  }
  await stop(service);
  // Every staged contact is older than the flush interval by now only if we wait; full batches go at once.
  log('draining');
  service = startService(url, sandbox.url, true);
  for (;;) {
    await sleep(250);
    const { rows } = await db.query(
      `SELECT (SELECT count(*) FROM pending_change)::int AS pending, (SELECT count(*) FROM import_batch WHERE status <> 'done')::int AS open, (SELECT count(*) FROM import_batch)::int AS batches`,
    );
    if (rows[0].pending === 0 && rows[0].open === 0 && rows[0].batches > 0) break;
  }
  const drainLog = await sandboxLog(sandbox.url);
  const tasks = drainLog.tasks.filter((t) => t.kind === 'import').sort((a, b) => Date.parse(a.accepted_at) - Date.parse(b.accepted_at));
  const imports = tasks.length;
  const minImports = Math.ceil(CONTACTS / MAX_ROWS);
  const meanFill = tasks.reduce((sum, t) => sum + t.rows, 0) / (imports * MAX_ROWS);
  const drainMs = Date.parse(tasks[tasks.length - 1]!.finished_at) - Date.parse(tasks[0]!.accepted_at);
  const interval = WINDOW_MS / RATE;
  let bound = 0;
  let lastFinish = 0;
  const fullRows = Array.from({ length: minImports }, (_, k) => Math.min(MAX_ROWS, CONTACTS - k * MAX_ROWS));
  for (let k = 0; k < fullRows.length; k++) {
    const start = k === 0 ? 0 : Math.max(bound + interval, lastFinish);
    bound = start;
    lastFinish = start + Math.max(TASK_MIN_MS, fullRows[k]! * TASK_MS_PER_ROW);
  }
  const drainLowerBoundMs = lastFinish;

  // 2. Trickle: 20 new contacts a second, one partition so staging order is production order.
  log(`trickle: ${TRICKLE_RATE}/s for ${TRICKLE_S} s`);
  const sent: number[] = [];
  const trickleStart = Date.now();
  for (let i = 0; i < TRICKLE_S * TRICKLE_RATE; i++) {
    const due = trickleStart + (i * 1000) / TRICKLE_RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    const at = Date.now();
    await producer.send({ topic: TRICKLE_TOPIC, messages: [{ value: event(`T-${String(i).padStart(6, '0')}`, i, at) }] });
    sent.push(at);
  }
  const trickleDeadline = Date.now() + FLUSH_MS * 3 + 30_000;
  let trickleTasks: Task[] = [];
  for (;;) {
    await sleep(500);
    trickleTasks = (await sandboxLog(sandbox.url)).tasks
      .filter((t) => t.kind === 'import' && Date.parse(t.accepted_at) >= trickleStart)
      .sort((a, b) => Date.parse(a.accepted_at) - Date.parse(b.accepted_at));
    if (trickleTasks.filter((t) => t.status === 'done').reduce((sum, t) => sum + t.rows, 0) >= sent.length) break;
    if (Date.now() > trickleDeadline) throw new Error('the trickle was not imported in time');
  }
  // Contacts are imported oldest first, so the k-th event is in the task whose rows cover k.
  const latencies: number[] = [];
  let index = 0;
  for (const task of trickleTasks) {
    for (let r = 0; r < task.rows && index < sent.length; r++, index++) latencies.push(Date.parse(task.finished_at) - sent[index]!);
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  const all = await sandboxLog(sandbox.url);

  await stop(service);
  await producer.disconnect();
  await db.end();
  await dropDatabase(DATABASE);
  await sandbox.close();

  process.stdout.write(
    JSON.stringify({
      case: 'import',
      contacts: CONTACTS,
      imports,
      min_imports: minImports,
      mean_fill: Number(meanFill.toFixed(4)),
      responses_429: all.requests.filter((r) => r.status === 429).length,
      drain_s: Number((drainMs / 1000).toFixed(2)),
      drain_lower_bound_s: Number((drainLowerBoundMs / 1000).toFixed(2)),
      drain_over_bound: Number((drainMs / drainLowerBoundMs - 1).toFixed(4)),
      flush_interval_ms: FLUSH_MS,
      trickle_events: sent.length,
      trickle_imports: trickleTasks.length,
      trickle_p50_ms: pct(50),
      trickle_p99_ms: pct(99),
      trickle_target_ms: FLUSH_MS + TASK_MIN_MS + 1_000,
    }) + '\n',
  );
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench:import failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
