import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import request from 'supertest';
import { IMPORT_BODY_BUDGET_BYTES, rowBytes, toImportRow } from '../../src/importer/import-request';
import { fromStored, type StoredStampedPatch } from '../../src/store/stored-patch';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { HttpFaultProxy } from '../support/http-fault-proxy';
import { sandboxContacts, sandboxLog } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

const WINDOW_MS = 3_000;
const IMPORT_PATH = '/cdh/v1/member/import';

/** A contact whose patch is ~10 KB: 40 custom fields of 250 characters. */
function aLargePatch(n: number): StoredStampedPatch {
  const fields: StoredStampedPatch = {};
  for (let i = 0; i < 40; i++) fields[`cl_custom_f${i}`] = { v: `${n}-${i}-`.padEnd(250, 'x'), ts: 1_000 + n, seq: i };
  return fields;
}

function key(n: number): string {
  return `C-${String(n).padStart(5, '0')}`;
}

async function stage(db: Client, patches: StoredStampedPatch[]): Promise<void> {
  const rows = patches.map((f, n) => ({ k: key(n), f }));
  await db.query(
    `INSERT INTO pending_change (key_type, key_value, fields, first_staged_at)
     SELECT 'customer_id', r.k, r.f, now() - interval '1 minute' FROM jsonb_to_recordset($1::jsonb) AS r(k text, f jsonb)`,
    [JSON.stringify(rows)],
  );
}

async function openService(env: Record<string, string>): Promise<{ service: INestApplication; db: Client; drop: () => Promise<void> }> {
  const database = await migratedDatabase(uniqueName('request_errors').slice(0, 30));
  const topic = uniqueName('request-errors.changes');
  await createTopics([{ topic }]);
  const service = await startService(
    testConfig({
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('request-errors'),
      DLQ_TOPIC: uniqueName('request-errors.dlq'),
      CAAC_RATE_WINDOW_MS: String(WINDOW_MS),
      FLUSH_INTERVAL_MS: '200',
      ...env,
    }),
  );
  return { service, db: database.client, drop: database.drop };
}

async function settled(db: Client): Promise<true | undefined> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM pending_change)::int AS pending,
            (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed', 'requeued'))::int AS open`,
  );
  return rows[0].pending === 0 && rows[0].open === 0 ? true : undefined;
}

describe('importing a batch over a body limit lower than ours (413)', () => {
  const MAX_BODY_BYTES = 10_000_000;
  let sandbox: RunningSandbox;
  let service: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: 15, maxBodyBytes: MAX_BODY_BYTES, taskMinMs: 100, taskMsPerRow: 0 });
    ({ service, db, drop } = await openService({ CAAC_BASE_URL: sandbox.url }));
  });

  afterAll(async () => {
    await service?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('splits the batch, sends the halves in turn, and dead-letters nothing', async () => {
    // Just over the sandbox's 10,000,000 bytes, and under the service's own budget, so one claim takes it all.
    const patches: StoredStampedPatch[] = [];
    let bytes = 0;
    while (bytes <= MAX_BODY_BYTES + 20_000) {
      const patch = aLargePatch(patches.length);
      bytes += rowBytes(toImportRow('customer_id', { keyValue: key(patches.length), fields: fromStored(patch) }));
      patches.push(patch);
    }
    expect(bytes).toBeLessThan(IMPORT_BODY_BUDGET_BYTES);
    await stage(db, patches);

    await waitFor('every contact imported', () => settled(db), { timeoutMs: 60_000, intervalMs: 200 });

    const posts = (await sandboxLog(sandbox.url)).requests.filter((r) => r.method === 'POST' && r.path === IMPORT_PATH);
    expect(posts[0]).toMatchObject({ status: 413 });
    expect(posts.slice(1).map((r) => r.status)).toEqual(posts.slice(1).map(() => 202));
    expect(posts.slice(1).reduce((sum, r) => sum + (r.rows ?? 0), 0)).toBe(patches.length);
    const held = await sandboxContacts(sandbox.url);
    expect(held.size).toBe(patches.length);
    expect(held.get(key(patches.length - 1))).toMatchObject({ cl_custom_f39: patches.at(-1)!.cl_custom_f39!.v });
    await expect(db.query(`SELECT count(*)::int AS n FROM dead_letter_outbox`)).resolves.toMatchObject({ rows: [{ n: 0 }] });
    await expect(db.query(`SELECT count(*)::int AS n FROM contact_state`)).resolves.toMatchObject({ rows: [{ n: patches.length }] });
  });
});

describe('importing through a proxy that answers 404 on the import path', () => {
  let sandbox: RunningSandbox;
  let proxy: HttpFaultProxy;
  let service: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: 15, taskMinMs: 100, taskMsPerRow: 1 });
    proxy = new HttpFaultProxy(sandbox.url);
    await proxy.start();
    ({ service, db, drop } = await openService({ CAAC_BASE_URL: proxy.url, IMPORT_REFUSED_RETRY_MS: '1000' }));
  });

  afterAll(async () => {
    await service?.close();
    await proxy?.close();
    await sandbox?.close();
    await drop?.();
  });

  const ready = () => request(service.getHttpServer()).get('/health/ready');
  const refusedMetric = async () => (await request(service.getHttpServer()).get('/metrics')).text.split('\n').find((line) => line.startsWith('caac_sync_importer_refused{'));

  it('dead-letters nothing, reports the importer down with the reason, and recovers by itself when the path answers again', async () => {
    proxy.fault = { method: 'POST', path: IMPORT_PATH, status: 404, body: '<html><body><h1>404 Not Found</h1></body></html>' };
    await stage(db, [aLargePatch(0), aLargePatch(1), aLargePatch(2)]);

    const down = await waitFor(
      'the importer reported down',
      async () => {
        const response = await ready();
        return response.status === 503 && response.body.details?.importer?.status === 'down' ? response.body.details.importer : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    // How CAAC (here a proxy) refused, and since when; its body stays in the logs, off the open port.
    expect(down).toMatchObject({ reason: 'refused', refused: { status: 404, code: 'permanent', since: expect.any(String) } });
    expect(JSON.stringify(down)).not.toContain('Not Found');
    await expect(refusedMetric()).resolves.toBe('caac_sync_importer_refused{status="404"} 1');

    // It asks again now and then, and still dead-letters nothing. (A batch counts the attempt as
    // it sends it, so the second refusal is over only once the batch is back to retrying.)
    const refusedTwice = await waitFor(
      'a second refused request',
      async () => {
        const [batch] = (await db.query(`SELECT status, attempts, task_failures FROM import_batch`)).rows;
        return batch?.attempts >= 2 && batch.status === 'retrying' ? batch : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(refusedTwice).toMatchObject({ status: 'retrying', task_failures: 0 });
    await expect(db.query(`SELECT count(*)::int AS n FROM dead_letter_outbox`)).resolves.toMatchObject({ rows: [{ n: 0 }] });

    proxy.fault = undefined;
    await waitFor('every contact imported', () => settled(db), { timeoutMs: 30_000, intervalMs: 200 });

    expect([...(await sandboxContacts(sandbox.url)).keys()].sort()).toEqual([key(0), key(1), key(2)]);
    const response = await ready();
    expect(response.status).toBe(200);
    expect(response.body.details.importer).toMatchObject({ status: 'up', role: 'leader' });
    expect(response.body.details.importer.refused).toBeUndefined();
    await expect(refusedMetric()).resolves.toBeUndefined();
    await expect(db.query(`SELECT count(*)::int AS n FROM dead_letter_outbox`)).resolves.toMatchObject({ rows: [{ n: 0 }] });
  });
});
