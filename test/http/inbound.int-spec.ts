import { Writable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import request from 'supertest';
import { createLogger } from '../../src/common/logger';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, TEST_ADMIN_TOKEN, uniqueName } from '../support/service';

const EMAIL = 'amy.lin@example.com';

describe('what the HTTP server takes in, and how it fails', () => {
  const lines: string[] = [];
  const stderr: string[] = [];
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  let writeStderr: typeof process.stderr.write;

  beforeAll(async () => {
    const database = await migratedDatabase('http_inbound');
    db = database.client;
    drop = database.drop;
    const topic = uniqueName('inbound.profile-changes');
    await createTopics([{ topic }]);
    const config = testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('inbound'), DLQ_TOPIC: uniqueName('inbound.dlq'), IMPORTER_ENABLED: 'false', LOG_LEVEL: 'info' });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
        done();
      },
    });
    sut = await startService(config, createLogger({ level: 'info', destination }));
    // Anything written to stderr (Express's or Nest's own error printing) is caught too.
    writeStderr = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stderr.push(chunk.toString());
      return (writeStderr as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
  });

  afterAll(async () => {
    process.stderr.write = writeStderr;
    await sut?.close();
    await drop?.();
  });

  it('answers a POST whose body is not JSON with a 415 saying so, and starts no export', async () => {
    const response = await request(sut.getHttpServer())
      .post('/admin/exports')
      .set(auth)
      .set('Content-Type', 'text/plain')
      .set('X-Request-Id', 'plain-1')
      .send(JSON.stringify({ fields: ['display_name'] }))
      .expect(415);

    expect(response.body).toEqual({ statusCode: 415, error: 'Unsupported Media Type', message: 'the request body must be JSON (Content-Type: application/json), not text/plain' });
    await expect(db.query(`SELECT count(*)::int AS n FROM export_job`)).resolves.toMatchObject({ rows: [{ n: 0 }] });
    expect(lines.filter((line) => line.includes('"plain-1"')).map((line) => (JSON.parse(line) as { msg: string }).msg).sort()).toEqual([
      'POST /admin/exports 415',
      'admin POST /admin/exports 415',
    ]);
  });

  it('takes a JSON body and a POST without a body as before', async () => {
    await request(sut.getHttpServer()).post('/admin/imports/4242/retry').set(auth).set('Content-Type', 'application/json').send('{}').expect(404);
    await request(sut.getHttpServer()).post('/admin/imports/4242/retry').set(auth).expect(404);
  });

  it('refuses a malformed JSON body with a 400, logging none of it', async () => {
    await request(sut.getHttpServer()).post('/admin/exports').set(auth).set('Content-Type', 'application/json').send(`{"fields": ["${EMAIL}"`).expect(400);

    expect([lines.join('\n').includes('amy'), stderr.join('').includes('amy')]).toEqual([false, false]);
    await expect(db.query(`SELECT count(*)::int AS n FROM export_job`)).resolves.toMatchObject({ rows: [{ n: 0 }] });
  });

  it('logs an unexpected failure through the PII-safe serializer, with the route, and answers a bare 500', async () => {
    // A database that refuses the key's value in its own words: "invalid input syntax for type bigint: \"amy...\"".
    await db.query(`ALTER TABLE contact_state ALTER COLUMN key_value TYPE bigint USING 0`);

    const response = await request(sut.getHttpServer()).get(`/admin/contacts/display_email/${EMAIL}`).set(auth).set('X-Request-Id', 'fails-1').expect(500);

    expect(response.body).toEqual({ statusCode: 500, message: 'Internal server error' });
    const failure = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.requestId === 'fails-1');
    expect(failure).toEqual([
      expect.objectContaining({ level: 50, msg: 'GET /admin/contacts/:keyType/:keyValue failed', route: '/admin/contacts/:keyType/:keyValue', status: 500, err: expect.objectContaining({ code: '22P02', message: 'invalid input syntax for type bigint: "…"' }) }),
    ]);
    expect([lines.join('\n').includes('amy'), stderr.join('').includes('amy')]).toEqual([false, false]);
  });
});
