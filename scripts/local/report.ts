/**
 * Waits (bounded) until the service has imported everything it staged, then prints the imports,
 * a sample of the contacts CAAC (the sandbox) holds, and the dead letters.
 */
const service = `http://127.0.0.1:${process.env.LOCAL_HTTP_PORT ?? 3000}`;
const sandbox = `http://127.0.0.1:${process.env.LOCAL_SANDBOX_PORT ?? 4010}`;
const headers = { authorization: `Bearer ${process.env.LOCAL_ADMIN_TOKEN}` };
const WAIT_MS = 180_000;

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface Backlog { key_types: Array<{ key_type: string; pending_contacts: number }> }
interface Imports { imports: Array<{ id: string; status: string; key_type: string; task_id: string | null; rows: number; result: Record<string, number | null>; created_at: string; finished_at: string | null }> }

async function main(): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let quietSince = 0;
  for (;;) {
    const backlog = await json<Backlog>(`${service}/admin/backlog`, { headers });
    const open = await json<Imports>(`${service}/admin/imports?limit=5`, { headers });
    const idle =
      backlog.key_types.every((k) => k.pending_contacts === 0) &&
      open.imports.every((i) => i.status === 'done' || i.status === 'failed');
    quietSince = idle ? quietSince || Date.now() : 0;
    // Quiet for a few seconds: the CDC stream and the consumers have caught up too.
    if (idle && Date.now() - quietSince > 5_000) break;
    if (Date.now() > deadline) throw new Error('the backlog did not drain in time; see .cache/local/service.log');
    await new Promise((r) => setTimeout(r, 1_000));
  }

  const { imports } = await json<Imports>(`${service}/admin/imports?limit=20`, { headers });
  process.stdout.write('\nImports (newest first):\n');
  for (const i of imports) {
    process.stdout.write(
      `  #${i.id} ${i.status.padEnd(8)} ${i.key_type.padEnd(14)} rows=${String(i.rows).padEnd(5)} task_id=${i.task_id} ` +
        `created=${i.result.created_num ?? '-'} updated=${i.result.updated_num ?? '-'} failed=${i.result.failed_num ?? '-'}\n`,
    );
  }
  const { contacts } = await json<{ contacts: Array<Record<string, unknown>> }>(`${sandbox}/__sandbox/contacts?limit=5`);
  process.stdout.write('\nContacts in CAAC (first 5):\n');
  for (const contact of contacts) process.stdout.write(`  ${JSON.stringify(contact)}\n`);
  const dead = await json<{ stages: unknown[] }>(`${service}/admin/dead-letters`, { headers });
  process.stdout.write(`\nDead letters through the outbox: ${JSON.stringify(dead.stages)}\n`);
  const metrics = await (await fetch(`${service}/metrics`)).text();
  const lines = metrics.split('\n').filter((l) => /^caac_sync_(ingest_events_total|imports_total|dead_letters_total)/.test(l));
  process.stdout.write(`\nMetrics:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`report: ${error.message}\n`);
  process.exit(1);
});
