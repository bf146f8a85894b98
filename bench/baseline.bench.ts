/**
 * bench:baseline — a brand that already loaded its contacts into CAAC starts the service with a
 * full stream of them. BENCH_CONTACTS [100,000] contacts in the sandbox; then, twice on fresh
 * databases: with an export first (reconcile learns what CAAC holds) and without. The same full
 * stream of every contact follows, of which one in ten differs in one field. Reports the imports
 * and rows each run sent, the export's and the baseline's time, and the service's peak RSS.
 * The sandbox's rate window is scaled (BENCH_RATE_WINDOW_MS [4,000]) so the run without the
 * baseline does not wait minutes for its tokens; the counts are what matters.
 * Prints one JSON line last.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../src/sandbox/sandbox.server';
import { createMigratedDatabase, dropDatabase, KAFKA_BROKERS, peakRssMb, serviceCommand, startInfrastructure } from './bench-support';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const RATE_WINDOW_MS = Number(process.env.BENCH_RATE_WINDOW_MS ?? 4_000);
const RUN = `${Date.now()}`;
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const SEED_CHUNK = 5_000;
const PRODUCE_CHUNK = 2_000;
const STEP_LIMIT_MS = 30 * 60_000;

const log = (message: string) => process.stderr.write(`bench:baseline ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A contact as CAAC holds it before the service starts. */
function contact(i: number): Record<string, unknown> {
  return {
    customer_id: `C-${String(i).padStart(7, '0')}`,
    display_name: `Customer ${i}`,
    city: ['Taipei', 'Tainan', 'Kaohsiung'][i % 3],
    star_mark: i % 4 === 0,
    cl_custom_points: (i % 1000) * 1.5,
    cl_custom_tier: i % 2 ? 'gold' : 'silver',
  };
}

/** The CRM's event for contact i: CAAC's values, except one in ten renamed. */
function event(i: number, occurredAt: string): { key: string; value: string } {
  const { customer_id, cl_custom_points, cl_custom_tier, ...profile } = contact(i);
  if (i % 10 === 0) profile.display_name = `Renamed ${i}`;
  return {
    key: customer_id as string,
    value: JSON.stringify({
      event_id: randomUUID(),
      occurred_at: occurredAt,
      key: { customer_id },
      profile: { ...profile, custom: { points: cl_custom_points, tier: cl_custom_tier } },
    }),
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + STEP_LIMIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${STEP_LIMIT_MS} ms`);
    await sleep(intervalMs);
  }
}

interface RunResult {
  imports: number;
  rows: number;
  export_s?: number;
  baseline_s?: number;
  learned?: number;
  sync_s: number;
  peak_rss_mb: number;
  /** contact_state per contact (customer_id rows, TOAST-compressed size): as stored, and without the values, import times and batch ids kept since reconcile. */
  state_bytes_per_contact: number;
  state_bytes_per_contact_hashes_only: number;
}

async function run(withExport: boolean): Promise<RunResult> {
  const label = withExport ? 'with' : 'without';
  const database = `caac_sync_bench_baseline_${label}_${RUN}`;
  const topic = `bench.baseline.${label}.${RUN}`;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const sandbox: RunningSandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: RATE_WINDOW_MS, taskMinMs: 500, taskMsPerRow: 0.01, logLevel: 'warn' });
  const { url, dataSource } = await createMigratedDatabase(database, 2);
  await dataSource.destroy();
  const kafka = new Kafka({ clientId: 'bench-baseline', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR });
  let service: ChildProcess | undefined;
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    log(`${label}: seeding ${CONTACTS} contacts`);
    for (let i = 0; i < CONTACTS; i += SEED_CHUNK) {
      const contacts = Array.from({ length: Math.min(SEED_CHUNK, CONTACTS - i) }, (_, k) => contact(i + k));
      const response = await fetch(`${sandbox.url}/__sandbox/contacts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contacts }) });
      if (response.status !== 200) throw new Error(`seeding refused: ${response.status}`);
    }
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3 }] });
    await admin.disconnect();
    service = spawn(process.execPath, serviceCommand(), {
      env: {
        PATH: process.env.PATH,
        KAFKA_BROKERS,
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: `bench-baseline-${label}-${RUN}`,
        DLQ_TOPIC: `bench.baseline.dlq.${RUN}`,
        DATABASE_URL: url,
        CAAC_BASE_URL: sandbox.url,
        CAAC_API_KEY: 'sandbox-key',
        CAAC_RATE_WINDOW_MS: String(RATE_WINDOW_MS),
        ADMIN_TOKEN,
        EXPORT_POLL_MS: '200',
        FLUSH_INTERVAL_MS: '2000',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    const headers = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    await until('ready', async () => ((await fetch(`${base}/health/ready`).catch(() => undefined))?.status === 200 ? true : undefined));

    const result: Partial<RunResult> = {};
    if (withExport) {
      log(`${label}: exporting`);
      const { id } = (await (await fetch(`${base}/admin/exports`, { method: 'POST', headers })).json()) as { id: string };
      const job = await until('export reconciled', async () => (await db.query(`SELECT requested_at, finished_at, reconciled_at, reconcile FROM export_job WHERE id = $1 AND reconciled_at IS NOT NULL`, [id])).rows[0]);
      result.export_s = Number(((job.finished_at.getTime() - job.requested_at.getTime()) / 1000).toFixed(2));
      // From the export's end to the job marked reconciled: includes up to one check interval (1 s).
      result.baseline_s = Number(((job.reconciled_at.getTime() - job.finished_at.getTime()) / 1000).toFixed(2));
      result.learned = job.reconcile.learned;
    }

    log(`${label}: streaming ${CONTACTS} contacts`);
    const syncStarted = Date.now();
    const producer = kafka.producer();
    await producer.connect();
    const occurredAt = new Date().toISOString();
    for (let i = 0; i < CONTACTS; i += PRODUCE_CHUNK) {
      await producer.send({ topic, messages: Array.from({ length: Math.min(PRODUCE_CHUNK, CONTACTS - i) }, (_, k) => event(i + k, occurredAt)) });
    }
    await producer.disconnect();
    await until('stream staged', async () => {
      const { rows } = await db.query(`SELECT coalesce(sum(next_offset), 0)::bigint::text AS n FROM consumer_offset WHERE topic = $1`, [topic]);
      return Number(rows[0].n) >= CONTACTS ? true : undefined;
    });
    await until('backlog imported', async () => {
      const { rows } = await db.query(
        `SELECT (SELECT count(*) FROM pending_change)::int AS pending, (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed'))::int AS open`,
      );
      return rows[0].pending === 0 && rows[0].open === 0 ? true : undefined;
    });
    result.sync_s = Number(((Date.now() - syncStarted) / 1000).toFixed(2));
    result.peak_rss_mb = peakRssMb(service.pid!);
    const sizes = await db.query(
      `SELECT round(avg(pg_column_size(fields)))::int AS stored,
              round(avg(pg_column_size((SELECT jsonb_object_agg(key, to_jsonb(array_to_string((caac_sync_state_core(value))[1:3], ' '))) FROM jsonb_each(fields)))))::int AS hashes_only
         FROM contact_state WHERE key_type = 'customer_id'`,
    );
    result.state_bytes_per_contact = sizes.rows[0].stored;
    result.state_bytes_per_contact_hashes_only = sizes.rows[0].hashes_only;
    const { requests } = (await (await fetch(`${sandbox.url}/__sandbox/requests`)).json()) as { requests: Array<{ method: string; path: string; status: number; rows?: number }> };
    const accepted = requests.filter((r) => r.method === 'POST' && r.path.endsWith('/member/import') && r.status === 202);
    result.imports = accepted.length;
    result.rows = accepted.reduce((sum, r) => sum + (r.rows ?? 0), 0);
    log(`${label}: ${JSON.stringify(result)}`);
    return result as RunResult;
  } finally {
    if (service && service.exitCode === null) {
      const exited = new Promise((r) => service!.once('exit', r));
      service.kill('SIGTERM');
      await exited;
    }
    await db.end();
    await sandbox.close();
    await dropDatabase(database);
  }
}

async function main(): Promise<void> {
  startInfrastructure();
  const withBaseline = await run(true);
  const withoutBaseline = await run(false);
  process.stdout.write(
    `${JSON.stringify({ bench: 'baseline', contacts: CONTACTS, differing: Math.ceil(CONTACTS / 10), with_baseline: withBaseline, without_baseline: withoutBaseline })}\n`,
  );
}

main().catch((error: unknown) => {
  log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
