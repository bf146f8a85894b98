import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { Writable } from 'node:stream';
import request from 'supertest';
import { createLogger } from '../../src/common/logger';
import { HTTP_HEADERS_TIMEOUT_MS, HTTP_KEEP_ALIVE_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS } from '../../src/http/http-server';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, TEST_ADMIN_TOKEN, uniqueName } from '../support/service';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
}

/**
 * Every route a controller answers, as `METHOD /path` with OpenAPI's `{param}` form, read from
 * Express's router (middleware mounted on a wildcard is not a route).
 */
function mountedRoutes(app: INestApplication): string[] {
  const router = (app.getHttpAdapter().getInstance() as { router: { stack: Layer[] } }).router;
  return router.stack.flatMap((layer) =>
    layer.route && !layer.route.path.includes('*') ? Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`) : [],
  );
}

describe('the HTTP server', () => {
  const lines: string[] = [];
  let sut: INestApplication;
  let drop: () => Promise<void>;
  const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const logLines = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  beforeAll(async () => {
    const database = await migratedDatabase('http_hardening');
    drop = database.drop;
    const topic = uniqueName('http.profile-changes');
    await createTopics([{ topic }]);
    const config = testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('http'), DLQ_TOPIC: uniqueName('http.dlq'), IMPORTER_ENABLED: 'false', LOG_LEVEL: 'info' });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
        done();
      },
    });
    sut = await startService(config, createLogger({ level: 'info', destination }));
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  it('describes every admin route in the OpenAPI document at /docs-json, with the bearer scheme', async () => {
    const response = await request(sut.getHttpServer()).get('/docs-json').expect(200);
    const document = response.body as { paths: Record<string, Record<string, { security?: unknown[] }>>; components: { securitySchemes: Record<string, unknown> } };
    const documented = Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    const admin = mountedRoutes(sut).filter((route) => route.split(' ')[1]!.startsWith('/admin'));

    expect(admin).toEqual(expect.arrayContaining(['GET /admin/imports', 'GET /admin/imports/{id}', 'POST /admin/imports/{id}/retry', 'GET /admin/backlog', 'GET /admin/dead-letters']));
    expect(documented).toEqual(expect.arrayContaining([...admin, 'GET /health/live', 'GET /health/ready', 'GET /metrics']));
    for (const route of admin) {
      const [method, path] = route.split(' ') as [string, string];
      expect([route, document.paths[path]![method.toLowerCase()]!.security]).toEqual([route, [{ 'admin-token': [] }]]);
    }
    expect(document.components.securitySchemes).toEqual({ 'admin-token': expect.objectContaining({ type: 'http', scheme: 'bearer' }) });
    await request(sut.getHttpServer()).get('/docs').redirects(1).expect(200).expect('content-type', /text\/html/);
  });

  it('sets server timeouts shorter than Node\'s defaults and sends no X-Powered-By', async () => {
    const server = sut.getHttpServer() as Server;
    expect([server.requestTimeout, server.headersTimeout, server.keepAliveTimeout]).toEqual([HTTP_REQUEST_TIMEOUT_MS, HTTP_HEADERS_TIMEOUT_MS, HTTP_KEEP_ALIVE_TIMEOUT_MS]);

    const response = await request(sut.getHttpServer()).get('/health/live').expect(200);

    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('writes one access log line per request with its request id, taken from the caller or made', async () => {
    const given = await request(sut.getHttpServer()).get('/admin/backlog').set(auth).set('X-Request-Id', 'lb-1234.abc').expect(200);
    const made = await request(sut.getHttpServer()).get('/health/live').set('X-Request-Id', 'bad id with spaces').expect(200);

    expect(given.headers['x-request-id']).toBe('lb-1234.abc');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const access = logLines().filter((line) => (line.req as { id?: string } | undefined)?.id !== undefined);
    expect(access.filter((line) => (line.req as { id: string }).id === 'lb-1234.abc')).toEqual([
      expect.objectContaining({ level: 30, msg: 'GET /admin/backlog 200', req: { id: 'lb-1234.abc', method: 'GET' }, route: '/admin/backlog', res: { statusCode: 200 }, responseTime: expect.any(Number) }),
    ]);
    expect(access.filter((line) => (line.req as { id: string }).id === made.headers['x-request-id'])).toHaveLength(1);
    expect(lines.join('\n')).not.toContain(TEST_ADMIN_TOKEN);
  });

  it('writes an audit line for every admin write, allowed or refused, and none for a read without personal data', async () => {
    await request(sut.getHttpServer()).post('/admin/imports/4242/retry').set(auth).set('X-Request-Id', 'audit-1').expect(404);
    await request(sut.getHttpServer()).post('/admin/imports/4242/retry').set('Authorization', 'Bearer wrong-token-0123456789').set('X-Request-Id', 'audit-2').expect(401);
    await request(sut.getHttpServer()).get('/admin/imports').set(auth).set('X-Request-Id', 'audit-3').expect(200);

    const audits = logLines().filter((line) => line.audit !== undefined);
    expect(audits.map((line) => [line.msg, line.audit])).toEqual([
      ['admin POST /admin/imports/:id/retry 404', { requestId: 'audit-1', method: 'POST', route: '/admin/imports/:id/retry', params: { id: '4242' }, status: 404, authorized: true, remoteAddress: expect.any(String) }],
      ['admin POST /admin/imports/:id/retry 401', { requestId: 'audit-2', method: 'POST', route: '/admin/imports/:id/retry', params: { id: '4242' }, status: 401, authorized: false, remoteAddress: expect.any(String) }],
    ]);
    expect(lines.join('\n')).not.toContain('wrong-token-0123456789');
  });
});
