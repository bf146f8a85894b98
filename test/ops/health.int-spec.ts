import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { freshDatabase, migrate } from '../support/database';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait-for';

describe('GET /health', () => {
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(process.env.TEST_ADMIN_DATABASE_URL!).port || 5432));
  let sut: INestApplication;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await freshDatabase('health');
    drop = database.drop;
    await migrate(database.url);
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const topic = uniqueName('health-changes');
    await createTopics([{ topic }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: viaProxy.toString(),
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('health'),
        DLQ_TOPIC: uniqueName('health-dlq'),
      }),
    );
  });

  afterAll(async () => {
    await sut?.close();
    await proxy.stop();
    await drop();
  });

  const ready = () => request(sut.getHttpServer()).get('/health/ready');

  it('is live without checking anything external', async () => {
    await expect(request(sut.getHttpServer()).get('/health/live')).resolves.toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('is ready once Postgres answers and the consumer has joined its group', async () => {
    const response = await waitFor('readiness', async () => {
      const r = await ready();
      return r.status === 200 ? r : undefined;
    });

    expect(response.body.status).toBe('ok');
    expect(response.body.details.postgres).toEqual({ status: 'up' });
    expect(response.body.details.kafka).toMatchObject({ status: 'up', brokers: 1, consumer: { joined: true } });
    expect(response.body.details.export).toEqual({ status: 'up', running: null, newest_complete_age_ms: null, stale: false, schedule: null });
  });

  it('reports down while Postgres is unreachable, and up again when it is back', async () => {
    await proxy.stop();

    const down = await waitFor('not ready', async () => {
      const r = await ready();
      return r.status === 503 ? r : undefined;
    });
    expect(down.body.status).toBe('error');
    expect(down.body.details.postgres.status).toBe('down');
    expect(down.body.details.kafka.status).toBe('up');

    await proxy.start();

    const up = await waitFor('ready again', async () => {
      const r = await ready();
      return r.status === 200 ? r : undefined;
    });
    expect(up.body.details.postgres).toEqual({ status: 'up' });
  });
});
