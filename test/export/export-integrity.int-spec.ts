import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { systemClock } from '../../src/common/clock';
import { ScriptedServer, type Answer } from '../caac/caac-test-server';
import { migratedDatabase } from '../support/database';
import { highWatermarks, TopicTail } from '../support/kafka-io';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';
import { ADMIN, jobEnded, tableRows } from './export-fixtures';

/** An export file as CAAC would write it: the header, then one row a contact. */
function aFile(rows: string[][], header = ['contact_id', 'customer_id', 'display_name']): string {
  return [header, ...rows].map((cells) => `${cells.join(',')}\r\n`).join('');
}

const A = ['id-a', 'C-A', 'Ada'];
const B = ['id-b', 'C-B', 'Bo'];
const C = ['id-c', 'C-C', 'Cy'];
/** The mirror every test starts from: three contacts, delivered whole. */
const BASE = { body: aFile([A, B, C]), rowCount: 3 };

/**
 * A CAAC whose every export gets the file the test set last (`next`), with the row_count the test
 * says, as a proxy in front of a real CAAC could serve a short or broken one.
 */
class ScriptedExports {
  next: { body: string; rowCount: number | null } = BASE;
  readonly files = new Map<string, { body: string; rowCount: number | null }>();

  constructor(server: ScriptedServer) {
    server.answer = (request): Answer => {
      if (request.method === 'POST' && request.path === '/cdh/v1/member/export') {
        const taskId = `t-${this.files.size + 1}`;
        this.files.set(taskId, this.next);
        return { status: 202, body: { task_id: taskId } };
      }
      const task = /^\/cdh\/v1\/member\/export\/(t-\d+)$/.exec(request.path)?.[1];
      if (task && this.files.has(task)) {
        const at = new Date().toISOString();
        const expires = new Date(Date.now() + 3_600_000).toISOString();
        return { status: 200, body: { task_id: task, status: 'done', created_at: at, updated_at: at, result: { row_count: this.files.get(task)!.rowCount, download_url: `${server.url}/files/${task}.csv?signature=abc`, expires_at: expires } } };
      }
      const file = /^\/files\/(t-\d+)\.csv/.exec(request.path)?.[1];
      if (file && this.files.has(file)) return { status: 200, body: this.files.get(file)!.body, headers: { 'content-type': 'text/csv' } };
      if (request.path === '/cdh/v1/member/export') return { status: 200, body: { exports: [] } };
      return { status: 404, body: { detail: 'Not Found' } };
    };
  }
}

describe('export integrity: only a whole file changes the mirror, and mass deletions wait for an operator', () => {
  let server: ScriptedServer;
  let caac: ScriptedExports;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;
  let tail: TopicTail;
  let sutEnv: Record<string, string>;
  const exportTopic = uniqueName('export-integrity.contacts');
  // Small enough that one contact with a long value is refused by the broker itself.
  const TOPIC_MAX_MESSAGE_BYTES = 2_048;

  beforeAll(async () => {
    server = await new ScriptedServer(systemClock).start();
    caac = new ScriptedExports(server);
    const database = await migratedDatabase('export_integrity');
    drop = database.drop;
    db = database.client;
    const source = uniqueName('export-integrity.changes');
    await createTopics([{ topic: source }, { topic: exportTopic, partitions: 3, config: { 'cleanup.policy': 'compact', 'max.message.bytes': String(TOPIC_MAX_MESSAGE_BYTES) } }]);
    sutEnv = {
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${source}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('export-integrity'),
        DLQ_TOPIC: uniqueName('export-integrity.dlq'),
        CAAC_BASE_URL: server.url,
        EXPORT_TOPIC: exportTopic,
        EXPORT_POLL_MS: '20',
        EXPORT_KAFKA_BATCH_BYTES: '1024',
        // Every export polls its task and some ask for the file again: no test waits on the status pace.
        CAAC_STATUS_RATE_PER_MIN: '6000',
    };
    sut = await startService(testConfig(sutEnv));
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
    tail = await new TopicTail(exportTopic).start();
  });

  afterAll(async () => {
    await tail?.stop();
    await sut?.close();
    await server?.close();
    await drop?.();
  });

  async function exportOf(file: { body: string; rowCount: number | null }): Promise<Record<string, any>> {
    caac.next = file;
    const started = await fetch(`${base}/admin/exports`, { method: 'POST', headers: ADMIN });
    expect(started.status).toBe(202);
    return jobEnded(base, ((await started.json()) as { id: string }).id, 60_000);
  }

  /** Back to the three contacts of BASE, letting the export delete what earlier tests added. */
  async function baseline(): Promise<void> {
    const job = await exportOf(BASE);
    if (job.status === 'held') await post(`/admin/exports/${job.id}/allow-deletions`);
    await expect(jobEnded(base, job.id, 60_000)).resolves.toMatchObject({ status: 'done' });
  }

  async function post(path: string): Promise<{ status: number; body: any }> {
    const response = await fetch(`${base}${path}`, { method: 'POST', headers: ADMIN });
    return { status: response.status, body: await response.json() };
  }

  /** The table and the topic as a downstream reader sees them, and the topic's message count. */
  async function mirror() {
    const table = Object.fromEntries([...(await tableRows(db))].map(([id, row]) => [id, { fields: row.fields, export_id: row.export_id }]));
    const topic = await tail.latest();
    const live = Object.fromEntries([...topic.latest].filter(([, value]) => value !== null).map(([id, value]) => [id, JSON.parse(value!.toString()).fields]));
    const tombstoned = [...topic.latest].filter(([, value]) => value === null).map(([id]) => id).sort();
    return { table, live, tombstoned, messages: topic.messages };
  }

  const contactsOf = (rows: string[][]) => Object.fromEntries(rows.map(([id, customer, name]) => [id, { customer_id: customer, display_name: name }]));

  describe('a file that is not whole fails its job and leaves the table and the topic as they were', () => {
    const tenRows = Array.from({ length: 12 }, (_, i) => [`id-${i + 1}`, `C-${i + 1}`, `Name ${i + 1}`]);
    tenRows[9] = ['id-10', 'C-10', '"Tainan'];

    it.each([
      ['an empty body', { body: '', rowCount: 3 }, /the file is empty: no header row in its 0 bytes/],
      ['a byte-order mark alone', { body: '\uFEFF', rowCount: 3 }, /the file is empty: no header row in its 3 bytes/],
      ['a header alone while row_count is 3', { body: aFile([]), rowCount: 3 }, /the file holds 0 rows \(0 read, 0 refused\) where CAAC's row_count is 3: it is cut short/],
      ['a file cut at a row boundary', { body: aFile([A, B]), rowCount: 3 }, /the file holds 2 rows \(2 read, 0 refused\) where CAAC's row_count is 3/],
      ['a file cut inside its last row', { body: aFile([A, B, C]).slice(0, -4), rowCount: 3 }, /the file does not end with a line break: its last row is cut short/],
      ['an unclosed quote in row 10', { body: aFile(tenRows), rowCount: 12 }, /the file ends inside a quoted cell/],
      ['a header one column short of every row', { body: aFile([A, B, C].map((row) => [...row, ''])), rowCount: 3 }, /the header does not match the rows: 3 of 3 rows have another number of cells than its 3/],
    ])('%s', async (_what, file, reason) => {
      await baseline();
      const before = await mirror();

      const job = await exportOf(file);

      expect(job).toMatchObject({ status: 'failed', last_error: expect.stringMatching(reason), table: { done_at: null }, topic: { done_at: null } });
      await expect(mirror()).resolves.toEqual(before);
      expect(before.table).toEqual(Object.fromEntries(Object.entries(contactsOf([A, B, C])).map(([id, fields]) => [id, { fields, export_id: expect.any(String) }])));
      expect(before.live).toEqual(contactsOf([A, B, C]));
    });

    it('is taken up again by POST /admin/exports/:id/retry, which downloads the file again', async () => {
      await baseline();
      const failed = await exportOf({ body: aFile([A, B]), rowCount: 3 });
      caac.next = BASE;
      const downloads = server.received.filter((request) => request.path.startsWith('/files/')).length;

      const retried = await post(`/admin/exports/${failed.id}/retry`);

      expect(retried).toEqual({ status: 202, body: { id: failed.id, status: 'downloading' } });
      await expect(jobEnded(base, failed.id, 60_000)).resolves.toMatchObject({ status: 'failed' }); // the same short file again
      expect(server.received.filter((request) => request.path.startsWith('/files/')).length).toBe(downloads + 1);
    });
  });

  it('keeps the previous row of a contact whose row it refuses, and dead-letters the row', async () => {
    await baseline();
    const before = await mirror();
    const renamed = ['id-c', 'C-C', 'Cyrus'];

    const job = await exportOf({ body: aFile([['id-a', 'C-A', 'A\u0000da'], B, renamed]), rowCount: 3 });

    expect(job).toMatchObject({ status: 'done', rows_written: 2, malformed_rows: 1, kept_on_refusal: 1, deletions: 0 });
    const after = await mirror();
    expect(after.table['id-a']).toEqual(before.table['id-a']);
    expect(after.table['id-c']).toEqual({ fields: { customer_id: 'C-C', display_name: 'Cyrus' }, export_id: job.id });
    expect(after.live).toEqual(contactsOf([A, B, renamed]));
    expect(after.tombstoned).toEqual(before.tombstoned);
    const { rows: letters } = await db.query(
      `SELECT convert_from(message_key, 'UTF8') AS key, headers->>'caac-sync.errors.message' AS message FROM dead_letter_outbox WHERE headers->>'caac-sync.errors.message' LIKE $1`,
      [`export ${job.id},%`],
    );
    expect(letters).toEqual([{ key: 'id-a', message: `export ${job.id}, record 2: display_name holds a NUL character, which Postgres cannot store` }]);
  });

  it('holds an export that would delete more than EXPORT_MAX_DELETE_RATIO of the mirror until deletions are allowed', async () => {
    await baseline();
    const before = await mirror();

    const held = await exportOf({ body: aFile([A, B]), rowCount: 2 });

    expect(held).toMatchObject({ status: 'held', deletions: 1, held_reason: expect.stringMatching(/it would delete 1 of the 3 contacts of caac_contact \(33\.3 %, more than EXPORT_MAX_DELETE_RATIO 0\.2\)/) });
    await expect(mirror()).resolves.toEqual(before);
    const ready = (await (await fetch(`${base}/health/ready`)).json()) as { details: { export: { held: unknown } } };
    expect(ready.details.export.held).toEqual({ id: held.id, deletions: 1, reason: held.held_reason });
    // Read from Postgres by every instance, at most a few seconds old.
    const heldMetric = (value: 0 | 1) =>
      waitFor(`caac_sync_export_held ${value}`, async () => new RegExp(`^caac_sync_export_held ${value}$`, 'm').test(await (await fetch(`${base}/metrics`)).text()) || undefined, { timeoutMs: 15_000, intervalMs: 250 });
    await heldMetric(1);

    await expect(post(`/admin/exports/${held.id}/allow-deletions`)).resolves.toEqual({ status: 202, body: { id: held.id, deletions: 1 } });

    await expect(jobEnded(base, held.id, 60_000)).resolves.toMatchObject({ status: 'done', deletions_allowed_at: expect.any(String), table: { rows: 2 }, topic: { rows: 2, tombstones: 1 } });
    const after = await mirror();
    expect(Object.keys(after.table).sort()).toEqual(['id-a', 'id-b']);
    expect(after.live).toEqual(contactsOf([A, B]));
    expect(after.tombstoned).toContain('id-c');
    await heldMetric(0);
  });

  it('ends a held export as superseded when a newer export is requested, deleting nothing', async () => {
    await baseline();
    const held = await exportOf({ body: aFile([A]), rowCount: 1 });
    expect(held.status).toBe('held');

    const newer = await exportOf(BASE);

    expect(newer.status).toBe('done');
    await expect(jobEnded(base, held.id)).resolves.toMatchObject({ status: 'superseded', last_error: `superseded by export ${newer.id} before its deletions were allowed` });
    await expect(post(`/admin/exports/${held.id}/allow-deletions`)).resolves.toMatchObject({ status: 409 });
    expect(Object.keys((await mirror()).table).sort()).toEqual(['id-a', 'id-b', 'id-c']);
  });

  it('redelivers only the newest done export: an older one would roll the mirror back', async () => {
    await baseline();
    const older = await exportOf(BASE);
    const D = ['id-d', 'C-D', 'Di'];
    const newest = await exportOf({ body: aFile([A, B, C, D]), rowCount: 4 });
    const before = await mirror();

    const refused = await post(`/admin/exports/${older.id}/redeliver`);

    expect(refused).toEqual({ status: 409, body: expect.objectContaining({ message: expect.stringContaining(`the newest done export; delivering it again would roll the mirror back: redeliver ${newest.id}`) }) });
    await expect(mirror()).resolves.toEqual(before);
    await expect(post(`/admin/exports/${newest.id}/redeliver`)).resolves.toEqual({ status: 202, body: { id: newest.id } });
    await expect(jobEnded(base, newest.id, 60_000)).resolves.toMatchObject({ status: 'done' });
    expect((await mirror()).table).toEqual(before.table);
  });

  it('returns a redelivery that fails to done, with the reason, leaving the mirror as it was', async () => {
    await baseline();
    const newest = await exportOf(BASE);
    const before = await mirror();
    caac.files.set(newest.task_id, { body: aFile([A]), rowCount: 3 }); // the same file, now served cut short

    await expect(post(`/admin/exports/${newest.id}/redeliver`)).resolves.toMatchObject({ status: 202 });

    await waitFor('the redelivery to end', async () => {
      const job = (await (await fetch(`${base}/admin/exports/${newest.id}`, { headers: ADMIN })).json()) as Record<string, any>;
      return job.status === 'done' && job.last_error !== null ? job : undefined;
    }).then((job) => expect(job.last_error).toMatch(/^redelivery failed: the file holds 1 rows/));
    await expect(mirror()).resolves.toEqual(before);
  });

  it('finishes an export that had delivered everything when it stopped, whatever became of its file', async () => {
    await baseline();
    // As a crash leaves it after the last sink, before `done`: no staging table, the file long expired.
    const { rows } = await db.query(
      `INSERT INTO export_job (account, task_id, status, target, row_count, rows_written, loaded_at, expires_at, table_done_at, topic_done_at)
       VALUES ('default', 't-gone', 'downloading', 'table+topic', 3, 3, now(), now() - interval '1 day', now(), now()) RETURNING id::text AS id`,
    );

    await expect(jobEnded(base, rows[0].id, 30_000)).resolves.toMatchObject({ status: 'done', last_error: null });
  });

  it('lists its jobs up to ?limit, reading CAAC\'s list once for callers a few seconds apart', async () => {
    await baseline();
    await baseline();
    const lists = () => server.received.filter((request) => request.method === 'GET' && request.path === '/cdh/v1/member/export').length;
    const before = lists();

    const [two, three] = await Promise.all([1, 2].map((n) => fetch(`${base}/admin/exports?limit=${n + 1}`, { headers: ADMIN }).then((response) => response.json())));

    expect((two as { exports: unknown[] }).exports).toHaveLength(2);
    expect((three as { exports: unknown[] }).exports).toHaveLength(3);
    expect(lists() - before).toBe(1);
    await expect(fetch(`${base}/admin/exports?limit=0`, { headers: ADMIN }).then((response) => response.status)).resolves.toBe(400);
  });

  it('refuses to start against a mirror of another CAAC account, naming both', async () => {
    const other = testConfig({ ...sutEnv, CAAC_ACCOUNT: 'brand-b', KAFKA_GROUP_ID: uniqueName('export-integrity-b') });

    await expect(startService(other)).rejects.toThrow(/mirrors CAAC account "default", and this service is configured for "brand-b" \(CAAC_ACCOUNT\)/);
  });

  it('tombstones a contact of a publish that failed part-way once an export lacks it', async () => {
    await baseline();
    const fresh = Array.from({ length: 5 }, (_, i) => [`id-n${i}`, `C-N${i}`, `New ${i}`]);
    const tooLarge = ['id-z', 'C-Z', 'z'.repeat(TOPIC_MAX_MESSAGE_BYTES + 100)];

    const failed = await exportOf({ body: aFile([A, B, C, ...fresh, tooLarge]), rowCount: 9 });

    expect(failed).toMatchObject({ status: 'failed', last_error: expect.stringContaining('MESSAGE_TOO_LARGE'), attempts: 1 });
    expect(Object.keys((await mirror()).live)).toEqual(expect.arrayContaining(['id-n0']));

    const later = await exportOf({ body: aFile([A, B, C, ...fresh.slice(1), ['id-z', 'C-Z', 'Zed']]), rowCount: 8 });

    expect(later).toMatchObject({ status: 'done' });
    const after = await mirror();
    expect(after.tombstoned).toContain('id-n0');
    expect(after.live['id-n0']).toBeUndefined();
    expect(after.table['id-n0']).toBeUndefined();
    expect([...(await highWatermarks(exportTopic)).values()].length).toBe(3);
  });
});
