/**
 * bench:export — one export of BENCH_CONTACTS [1,000,000] sandbox contacts through the service:
 * request, poll, download the streamed CSV, COPY into staging, merge into caac_contact and publish
 * to a compacted topic. Reports rows/s (file ready -> every sink done, and request -> done) and the
 * service's peak RSS (VmHWM), which must stay under 300 MB.
 * Prints one JSON line last: rows, rows_per_s, peak_rss_mb, the steps' times and the RSS sampled in
 * each step. BENCH_KAFKA_BATCH_BYTES sets EXPORT_KAFKA_BATCH_BYTES.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { startSandbox } from '../src/sandbox/sandbox.server';
import { createMigratedDatabase, dropDatabase, KAFKA_BROKERS, peakRssMb, serviceCommand, startInfrastructure } from './bench-support';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 1_000_000);
const RUN = `${Date.now()}`;
const DATABASE = `caac_sync_bench_export_${RUN}`;
const TOPIC = `bench.export.${RUN}`;
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const PORT = 20_000 + Math.floor(Math.random() * 20_000);
const SEED_CHUNK = 5_000;

/** Resident set size of a process now (Linux VmRSS), in MB. */
function currentRssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

const log = (message: string) => process.stderr.write(`bench:export ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A contact like a brand's: keys, a name with a comma and quotes now and then, a few custom fields. */
function contact(i: number): Record<string, unknown> {
  const row: Record<string, unknown> = { customer_id: `C-${String(i).padStart(7, '0')}`, display_name: i % 10 === 0 ? `Lin, "${i}"` : `Customer ${i}`, city: ['Taipei', 'Tainan', 'Kaohsiung'][i % 3] };
  if (i % 2 === 0) row.line_uid = `U${i.toString(16).padStart(32, '0')}`;
  if (i % 3 === 0) row.display_email = `c${i}@example.com`;
  row.cl_custom_points = i % 1000;
  if (i % 5 === 0) row.cl_custom_tier = i % 2 ? 'gold' : 'silver';
  return row;
}

async function main(): Promise<void> {
  startInfrastructure();
  const sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 1_000, taskMsPerRow: 0.001, logLevel: 'warn' });
  const { url, dataSource } = await createMigratedDatabase(DATABASE, 2);
  await dataSource.destroy();
  let service: ChildProcess | undefined;
  try {
    log(`seeding ${CONTACTS} contacts`);
    for (let i = 0; i < CONTACTS; i += SEED_CHUNK) {
      const contacts = Array.from({ length: Math.min(SEED_CHUNK, CONTACTS - i) }, (_, k) => contact(i + k));
      const response = await fetch(`${sandbox.url}/__sandbox/contacts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contacts }) });
      if (response.status !== 200) throw new Error(`seeding refused: ${response.status}`);
    }
    const kafkaAdmin = new Kafka({ clientId: 'bench-export', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR }).admin();
    await kafkaAdmin.connect();
    await kafkaAdmin.createTopics({ waitForLeaders: true, topics: [{ topic: `bench.export.source.${RUN}`, numPartitions: 1 }] });
    await kafkaAdmin.disconnect();
    service = spawn(process.execPath, serviceCommand(), {
      env: {
        PATH: process.env.PATH,
        KAFKA_BROKERS,
        SOURCE_TOPICS: `bench.export.source.${RUN}:profile-change.v1`,
        KAFKA_GROUP_ID: `bench-export-${RUN}`,
        DLQ_TOPIC: `bench.export.dlq.${RUN}`,
        DATABASE_URL: url,
        CAAC_BASE_URL: sandbox.url,
        CAAC_API_KEY: 'sandbox-key',
        ADMIN_TOKEN,
        EXPORT_TOPIC: TOPIC,
        EXPORT_POLL_MS: '200',
        ...(process.env.BENCH_KAFKA_BATCH_BYTES ? { EXPORT_KAFKA_BATCH_BYTES: process.env.BENCH_KAFKA_BATCH_BYTES } : {}),
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(PORT),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const deadline = Date.now() + 60_000;
    while ((await fetch(`http://127.0.0.1:${PORT}/health/ready`).catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline || service.exitCode !== null) throw new Error('the service did not become ready');
      await sleep(200);
    }
    log('exporting');
    const started = await fetch(`http://127.0.0.1:${PORT}/admin/exports`, { method: 'POST', headers: admin });
    const { id } = (await started.json()) as { id: string };
    const limit = Date.now() + 30 * 60_000;
    let job: Record<string, any>;
    const phaseRss: Record<string, number> = {};
    for (;;) {
      job = (await (await fetch(`http://127.0.0.1:${PORT}/admin/exports/${id}`, { headers: admin })).json()) as Record<string, any>;
      if (['done', 'failed', 'expired'].includes(job.status)) break;
      if (Date.now() > limit) throw new Error('the export did not end within 30 minutes');
      const phase = job.status !== 'downloading' ? 'waiting' : job.rows_written === 0 ? 'download' : job.table.done_at === null ? 'table' : 'topic';
      phaseRss[phase] = Math.max(phaseRss[phase] ?? 0, currentRssMb(service.pid!));
      await sleep(200);
    }
    const rss = peakRssMb(service.pid!);
    if (job.status !== 'done') throw new Error(`export ${job.status}: ${job.last_error}`);
    const db = new Client({ connectionString: url });
    await db.connect();
    const times = (await db.query(`SELECT requested_at, started_at, loaded_at, table_done_at, topic_done_at, finished_at, updated_at FROM export_job WHERE id = $1`, [id])).rows[0];
    const table = (await db.query(`SELECT count(*)::int AS n FROM caac_contact`)).rows[0].n as number;
    await db.end();
    const at = (name: string) => new Date(times[name]).getTime();
    // The file is ready when the job turned `downloading`; no column keeps that time, so it is the
    // task's own end as CAAC reports it.
    const task = (await (await fetch(`${sandbox.url}/cdh/v1/member/export/${job.task_id}`, { headers: { apikey: 'sandbox-key' } })).json()) as { updated_at: string };
    const fileReady = Date.parse(task.updated_at);
    const deliverS = (at('finished_at') - fileReady) / 1000;
    const result = {
      bench: 'export',
      rows: job.rows_written,
      table_rows: table,
      topic_rows: job.topic.rows,
      bytes: job.bytes,
      rows_per_s: Math.round(job.rows_written / deliverS),
      end_to_end_s: Number(((at('finished_at') - at('requested_at')) / 1000).toFixed(2)),
      download_and_stage_s: Number(((at('loaded_at') - fileReady) / 1000).toFixed(2)),
      table_merge_s: Number(((at('table_done_at') - at('loaded_at')) / 1000).toFixed(2)),
      topic_publish_s: Number(((at('topic_done_at') - at('table_done_at')) / 1000).toFixed(2)),
      peak_rss_mb: rss,
      // Sampled every 200 ms: where the peak comes from.
      rss_mb_by_step: phaseRss,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (service && service.exitCode === null) {
      const exited = new Promise((r) => service!.once('exit', r));
      service.kill('SIGTERM');
      await exited;
    }
    await sandbox.close();
    await dropDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
