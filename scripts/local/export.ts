/**
 * Ends the local run with an export: asks the service for one, waits (bounded) until it is
 * delivered, then prints the job and a few rows of the caac_contact table it filled.
 */
import { Client } from 'pg';

const service = `http://127.0.0.1:${process.env.LOCAL_HTTP_PORT ?? 3000}`;
const headers = { authorization: `Bearer ${process.env.LOCAL_ADMIN_TOKEN}` };
const databaseUrl = process.env.LOCAL_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/caac_sync_local';
const WAIT_MS = 120_000;
const SAMPLE_ROWS = 5;

interface Job { id: string; status: string; task_id: string | null; row_count: number | null; bytes: number | null; sha256: string | null; expires_at: string | null; last_error: string | null; table: { rows: number | null } }

async function main(): Promise<void> {
  const started = await fetch(`${service}/admin/exports`, { method: 'POST', headers });
  if (started.status !== 202) throw new Error(`export refused: ${started.status} ${await started.text()}`);
  const { id } = (await started.json()) as { id: string };
  const deadline = Date.now() + WAIT_MS;
  let job: Job;
  for (;;) {
    job = (await (await fetch(`${service}/admin/exports/${id}`, { headers })).json()) as Job;
    if (['done', 'failed', 'expired'].includes(job.status)) break;
    if (Date.now() > deadline) throw new Error(`export ${id} did not end in time; see .cache/local/service.log`);
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stdout.write(
    `\nExport #${job.id}: ${job.status}, task_id=${job.task_id}, rows=${job.row_count}, bytes=${job.bytes}, sha256=${job.sha256?.slice(0, 16)}…, ` +
      `file until ${job.expires_at}${job.last_error ? `, ${job.last_error}` : ''}\n`,
  );
  if (job.status !== 'done') throw new Error(`export ${id} ${job.status}`);

  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query(`SELECT contact_id, fields, exported_at FROM caac_contact ORDER BY fields->>'customer_id' LIMIT $1`, [SAMPLE_ROWS]);
    const { rows: counted } = await db.query(`SELECT count(*)::int AS n FROM caac_contact`);
    process.stdout.write(`caac_contact holds ${counted[0].n} contacts; the first ${rows.length} by customer_id:\n`);
    for (const row of rows) process.stdout.write(`  ${row.contact_id}  ${JSON.stringify(row.fields)}\n`);
  } finally {
    await db.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`export failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
