import { Writable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import request from 'supertest';
import type { AppConfig } from '../../src/config/app-config';
import { createLogger } from '../../src/common/logger';
import { KeyedHash } from '../../src/common/keyed-hash';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, TEST_ADMIN_TOKEN, uniqueName } from '../support/service';

const EMAIL = 'amy.lin@example.com';

describe('personal data in the access and audit logs', () => {
  const lines: string[] = [];
  let sut: INestApplication;
  let config: AppConfig;
  let db: Client;
  let drop: () => Promise<void>;
  const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const logLines = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const linesOf = (requestId: string) => logLines().filter((line) => (line.req as { id?: string } | undefined)?.id === requestId || (line.audit as { requestId?: string } | undefined)?.requestId === requestId);

  beforeAll(async () => {
    const database = await migratedDatabase('personal_data_logs');
    db = database.client;
    drop = database.drop;
    const topic = uniqueName('pii.profile-changes');
    await createTopics([{ topic }]);
    config = testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('pii'), DLQ_TOPIC: uniqueName('pii.dlq'), IMPORTER_ENABLED: 'false', LOG_LEVEL: 'info' });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
        done();
      },
    });
    sut = await startService(config, createLogger({ level: 'info', destination }));
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('display_email', $1, '{"display_name": {"v": "Amy", "ts": 1, "seq": 1}}')`, [EMAIL]);
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  it('logs a contact-story request by its route template and audits it with a keyed hash of the key, never the address', async () => {
    const response = await request(sut.getHttpServer())
      .get(`/admin/contacts/display_email/${encodeURIComponent('Amy.Lin@Example.com')}?note=${encodeURIComponent(EMAIL)}`)
      .set(auth)
      .set('X-Request-Id', 'story-1')
      .expect(200);

    expect(response.body).toMatchObject({ key_type: 'display_email', key_value: EMAIL });
    const logged = linesOf('story-1');
    expect(logged).toHaveLength(2);
    expect(logged).toEqual(expect.arrayContaining([
      expect.objectContaining({
        msg: 'admin GET /admin/contacts/:keyType/:keyValue 200',
        audit: {
          requestId: 'story-1',
          method: 'GET',
          route: '/admin/contacts/:keyType/:keyValue',
          params: { keyType: 'display_email' },
          keyHash: new KeyedHash(config.auditHashKey).ofKey('display_email', EMAIL),
          status: 200,
          authorized: true,
          remoteAddress: expect.any(String),
        },
      }),
      expect.objectContaining({ msg: 'GET /admin/contacts/:keyType/:keyValue 200', route: '/admin/contacts/:keyType/:keyValue', req: { id: 'story-1', method: 'GET' } }),
    ]));
    const everything = lines.join('\n').toLowerCase();
    expect([everything.includes('amy.lin'), everything.includes('example.com'), everything.includes('%40')]).toEqual([false, false, false]);
  });

  it('audits a refused read of personal data, and logs an unknown path by the catch-all route template', async () => {
    await request(sut.getHttpServer()).get(`/admin/contacts/display_email/${EMAIL}`).set('Authorization', 'Bearer not-the-token-0123456789').set('X-Request-Id', 'story-2').expect(401);
    await request(sut.getHttpServer()).get(`/nothing/${EMAIL}`).set('X-Request-Id', 'story-3').expect(404);

    expect(linesOf('story-2').map((line) => line.msg).sort()).toEqual(['GET /admin/contacts/:keyType/:keyValue 401', 'admin GET /admin/contacts/:keyType/:keyValue 401']);
    // Nest answers an unknown path through its catch-all route: its template is logged, not the path.
    expect(linesOf('story-3')).toEqual([expect.objectContaining({ msg: 'GET /{*path} 404', route: '/{*path}' })]);
    expect(lines.join('\n')).not.toContain(EMAIL);
  });

  describe('the drift route', () => {
    const exportId = '7';
    const page = (query: string) => request(sut.getHttpServer()).get(`/admin/exports/${exportId}/drift?${query}`).set(auth);

    beforeAll(async () => {
      await db.query(`INSERT INTO export_job (id, account, status, target, reconciled_at, reconcile) VALUES (7, 'default', 'done', 'table', now(), '{}'), (8, 'default', 'done', 'table', now(), '{}')`);
      await db.query(
        `INSERT INTO contact_drift (export_id, key_type, key_value, field, caac_value) VALUES
           (7, 'display_email', 'a@example.com', 'display_name', 'A'), (7, 'display_email', 'b@example.com', 'display_name', 'B'),
           (7, 'display_email', 'c@example.com', 'city', 'C')`,
      );
    });

    it('audits every read of the drift, which lists contact keys', async () => {
      await page('limit=1').set('X-Request-Id', 'drift-1').expect(200);

      expect(linesOf('drift-1').filter((line) => line.audit !== undefined).map((line) => line.audit)).toEqual([
        { requestId: 'drift-1', method: 'GET', route: '/admin/exports/:id/drift', params: { id: '7' }, status: 200, authorized: true, remoteAddress: expect.any(String) },
      ]);
    });

    it('pages with a cursor that holds no key, and follows it to the end', async () => {
      const first = await page('limit=2').expect(200);
      const cursor = first.body.next_cursor as string;
      const second = await page(`limit=2&cursor=${encodeURIComponent(cursor)}`).expect(200);

      expect(first.body.drift.map((row: { key_value: string }) => row.key_value)).toEqual(['a@example.com', 'b@example.com']);
      expect([cursor.includes('example'), Buffer.from(cursor.split('.')[0]!, 'base64url').toString('latin1').includes('example')]).toEqual([false, false]);
      expect(second.body).toMatchObject({ drift: [{ key_value: 'c@example.com', field: 'city' }], next_cursor: null });
    });

    it.each([
      ['a NUL', '%00'],
      ['garbage', 'not-a-cursor'],
      ['the old base64 of a key', Buffer.from(JSON.stringify(['display_email', 'a@example.com', 'display_name'])).toString('base64url')],
      ['a forged row id', '7-1.AAAAAAAAAAAAAAAA'],
    ])('refuses %s as a cursor with a 400', async (_what, cursor) => {
      const response = await page(`cursor=${cursor}`).expect(400);

      expect(response.body.message).toBe('cursor must be a next_cursor this route returned');
    });

    it("refuses another export's cursor with a 400", async () => {
      const cursor = (await page('limit=1').expect(200)).body.next_cursor as string;

      await request(sut.getHttpServer()).get(`/admin/exports/8/drift?cursor=${encodeURIComponent(cursor)}`).set(auth).expect(400);
    });
  });
});
