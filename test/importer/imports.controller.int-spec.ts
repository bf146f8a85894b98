import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import type { Client } from 'pg';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, TEST_ADMIN_TOKEN, uniqueName } from '../support/service';

describe('admin routes', () => {
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

  beforeAll(async () => {
    const database = await migratedDatabase('admin');
    drop = database.drop;
    db = database.client;
    const topic = uniqueName('admin.changes');
    await createTopics([{ topic }]);
    sut = await startService(
      testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('admin'), IMPORTER_ENABLED: 'false' }),
    );
    await db.query(
      `INSERT INTO import_batch (account, key_type, status, task_id, rows, attempts, finished_at, failed_num, last_error)
       VALUES ('default', 'customer_id', 'done', 'task-1', 2, 1, now(), 0, NULL),
              ('default', 'customer_id', 'failed', 'task-2', 1, 5, now(), 1, 'internal error')`,
    );
    await db.query(
      `INSERT INTO import_batch_item (batch_id, key_value, fields) VALUES (2, 'C-9', '{"city": {"v": "Tainan", "ts": 5, "seq": 1}}')`,
    );
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('customer_id', 'C-9', '{"city": {"v": "Taipei", "ts": 9, "seq": 1}}')`);
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  const http = () => request(sut.getHttpServer());

  it('refuses a missing or wrong token without repeating it', async () => {
    await expect(http().get('/admin/imports')).resolves.toMatchObject({ status: 401 });
    const wrong = await http().get('/admin/imports').set('Authorization', 'Bearer not-the-token-at-all');
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain('not-the-token-at-all');
  });

  it('lists imports newest first, filters by status, and says what is wrong with a bad query', async () => {
    const all = await http().get('/admin/imports').set(auth);
    expect(all.status).toBe(200);
    expect(all.body.imports.map((i: { id: string; task_id: string }) => [i.id, i.task_id])).toEqual([
      ['2', 'task-2'],
      ['1', 'task-1'],
    ]);
    const failed = await http().get('/admin/imports?status=failed').set(auth);
    expect(failed.body.imports.map((i: { id: string }) => i.id)).toEqual(['2']);

    const bad = await http().get('/admin/imports?status=exploded').set(auth);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/status must be one of/);
    await expect(http().get('/admin/imports?limit=0').set(auth)).resolves.toMatchObject({ status: 400 });
    await expect(http().get('/admin/imports/abc').set(auth)).resolves.toMatchObject({ status: 400 });
    await expect(http().get('/admin/imports/999').set(auth)).resolves.toMatchObject({ status: 404 });
  });

  it('retries a failed import by merging its contacts back under what is pending, newest field winning', async () => {
    await expect(http().post('/admin/imports/1/retry').set(auth)).resolves.toMatchObject({ status: 409 });

    const retried = await http().post('/admin/imports/2/retry').set(auth);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ id: '2', requeued: 1 });
    const { rows } = await db.query(`SELECT fields FROM pending_change WHERE key_value = 'C-9'`);
    expect(rows[0].fields).toEqual({ city: { v: 'Taipei', ts: 9, seq: 1 } }); // the newer pending value stays
    await expect(http().post('/admin/imports/2/retry').set(auth)).resolves.toMatchObject({ status: 409 });
  });

  it('summarises the backlog per key type', async () => {
    const backlog = await http().get('/admin/backlog').set(auth);
    expect(backlog.status).toBe(200);
    expect(backlog.body.key_types).toContainEqual({ key_type: 'customer_id', pending_contacts: 1, oldest_age_ms: expect.any(Number) });
    expect(backlog.body.key_types).toContainEqual({ key_type: 'line_uid', pending_contacts: 0, oldest_age_ms: null });
  });
});
