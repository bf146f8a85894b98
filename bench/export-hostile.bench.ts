/**
 * bench:export-hostile — the service's memory on export files built to break it: BENCH_ROWS
 * [1,000,000] rows (~80 MB) with a cell that opens a quote and never closes it, early (row 10: the
 * rest of the file is one endless cell) and at the very end (every row streams through COPY first).
 * A CAAC of its own serves each file, generated as it is sent; the service runs from dist/ as in
 * production (`--max-old-space-size=256`). Each export must fail with the file error and leave the
 * mirror untouched, and the service's peak RSS (VmHWM) must stay under 300 MB.
 * Prints one JSON line last: per case, the job's status and reason, the bytes CAAC sent, and the
 * service's peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { createMigratedDatabase, dropDatabase, KAFKA_BROKERS, peakRssMb, serviceCommand, startInfrastructure } from './bench-support';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const RUN = `${Date.now()}`;
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const log = (message: string) => process.stderr.write(`bench:export-hostile ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The file, row by row, with an unclosed quote opening in row `quoteAt`. */
function* hostileFile(rows: number, quoteAt: number): Generator<string> {
  yield 'contact_id,customer_id,display_name,city\r\n';
  for (let i = 1; i <= rows; i++) {
    const name = i === quoteAt ? `"Customer ${i}` : `Customer ${i}`;
    yield `c${String(i).padStart(10, '0')}-0000-4000-8000,C-${String(i).padStart(8, '0')},${name},Taipei Kaohsiung Tainan\r\n`;
  }
}

/** A CAAC that answers one export at a time with a hostile file, counting the bytes it sent. */
async function hostileCaac(quoteAt: () => number): Promise<{ server: Server; url: string; sent: () => number }> {
  let sent = 0;
  let tasks = 0;
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'POST' && url === '/cdh/v1/member/export') return json(202, { task_id: `h-${++tasks}` });
    const task = /^\/cdh\/v1\/member\/export\/(h-\d+)$/.exec(url)?.[1];
    const at = new Date().toISOString();
    if (task) return json(200, { task_id: task, status: 'done', created_at: at, updated_at: at, result: { row_count: ROWS, download_url: `${address}/files/${task}.csv`, expires_at: new Date(Date.now() + 3_600_000).toISOString() } });
    if (url.startsWith('/files/')) {
      sent = 0;
      res.writeHead(200, { 'content-type': 'text/csv' });
      const file = Readable.from(hostileFile(ROWS, quoteAt()));
      file.on('data', (chunk: string) => (sent += Buffer.byteLength(chunk)));
      file.pipe(res);
      res.on('close', () => file.destroy());
      return;
    }
    if (url === '/cdh/v1/member/export') return json(200, { exports: [] });
    return json(404, { detail: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { server, url: address, sent: () => sent };
}

async function main(): Promise<void> {
  startInfrastructure();
  const cases = [
    { name: 'unclosed_quote_row_10', quoteAt: 10 },
    { name: 'unclosed_quote_last_row', quoteAt: ROWS },
  ];
  let current = cases[0]!;
  const caac = await hostileCaac(() => current.quoteAt);
  const database = `caac_sync_bench_export_hostile_${RUN}`;
  const { url, dataSource } = await createMigratedDatabase(database, 2);
  await dataSource.destroy();
  const db = new Client({ connectionString: url });
  await db.connect();
  // A mirror that a broken file would empty.
  await db.query(`CREATE TABLE caac_contact (contact_id text PRIMARY KEY, fields jsonb NOT NULL, export_id bigint NOT NULL, exported_at timestamptz NOT NULL)`);
  await db.query(`INSERT INTO caac_contact SELECT 'kept-' || g, '{}'::jsonb, 0, now() FROM generate_series(1, 1000) g`);
  const results: Array<Record<string, unknown>> = [];
  const kafkaAdmin = new Kafka({ clientId: 'bench-export-hostile', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR }).admin();
  await kafkaAdmin.connect();
  await kafkaAdmin.createTopics({ waitForLeaders: true, topics: [{ topic: `bench.hostile.source.${RUN}`, numPartitions: 1 }] });
  await kafkaAdmin.disconnect();
  try {
    for (const run of cases) {
      current = run;
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const service: ChildProcess = spawn(process.execPath, serviceCommand(), {
        env: {
          PATH: process.env.PATH,
          KAFKA_BROKERS,
          SOURCE_TOPICS: `bench.hostile.source.${RUN}:profile-change.v1`,
          KAFKA_GROUP_ID: `bench-hostile-${RUN}`,
          DLQ_TOPIC: `bench.hostile.dlq.${RUN}`,
          DATABASE_URL: url,
          CAAC_BASE_URL: caac.url,
          CAAC_API_KEY: 'bench-key',
          ADMIN_TOKEN,
          EXPORT_POLL_MS: '100',
          HTTP_HOST: '127.0.0.1',
          HTTP_PORT: String(port),
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      try {
        const base = `http://127.0.0.1:${port}`;
        const ready = Date.now() + 60_000;
        while ((await fetch(`${base}/health/ready`).catch(() => undefined))?.status !== 200) {
          if (Date.now() > ready || service.exitCode !== null) throw new Error('the service did not become ready');
          await sleep(200);
        }
        log(`${run.name}: exporting ${ROWS} rows`);
        const started = Date.now();
        const { id } = (await (await fetch(`${base}/admin/exports`, { method: 'POST', headers: admin })).json()) as { id: string };
        let job: Record<string, any>;
        for (;;) {
          job = (await (await fetch(`${base}/admin/exports/${id}`, { headers: admin })).json()) as Record<string, any>;
          if (['done', 'failed', 'expired', 'held'].includes(job.status)) break;
          if (Date.now() - started > 10 * 60_000) throw new Error('the export did not end within 10 minutes');
          await sleep(100);
        }
        const mirror = (await db.query(`SELECT count(*)::int AS n FROM caac_contact`)).rows[0].n as number;
        results.push({ case: run.name, status: job.status, reason: job.last_error, bytes_sent: caac.sent(), seconds: (Date.now() - started) / 1000, mirror_rows: mirror, peak_rss_mb: peakRssMb(service.pid!) });
        log(JSON.stringify(results[results.length - 1]));
      } finally {
        if (service.exitCode === null) {
          const exited = new Promise((r) => service.once('exit', r));
          service.kill('SIGTERM');
          await exited;
        }
      }
    }
    const worst = Math.max(...results.map((result) => result.peak_rss_mb as number));
    process.stdout.write(`${JSON.stringify({ bench: 'export-hostile', rows: ROWS, cases: results, peak_rss_mb: worst, under_300_mb: worst < 300 })}\n`);
  } finally {
    await db.end();
    caac.server.close();
    await dropDatabase(database);
  }
}

main().catch((error: unknown) => {
  log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
