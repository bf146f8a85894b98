import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { BROKER_CACHE_MS } from '../../src/ops/broker.probe';
import { freshDatabase, migrate } from '../support/database';
import { produce } from '../support/kafka-io';
import { aProfileChange } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait-for';

/** Short limits, so a stuck partition and a stalled loop show within seconds. */
const PARTITION_STUCK_MS = 1_500;
const INGEST_STALL_MS = 3_000;

describe('GET /health', () => {
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(process.env.TEST_ADMIN_DATABASE_URL!).port || 5432));
  const topic = uniqueName('health-changes');
  const groupId = uniqueName('health');
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await freshDatabase('health');
    drop = database.drop;
    await migrate(database.url);
    db = new Client({ connectionString: database.url });
    await db.connect();
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    await createTopics([{ topic }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: viaProxy.toString(),
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: groupId,
        DLQ_TOPIC: uniqueName('health-dlq'),
        IMPORTER_ENABLED: 'false',
        HEALTH_PARTITION_STUCK_MS: String(PARTITION_STUCK_MS),
        HEALTH_INGEST_STALL_MS: String(INGEST_STALL_MS),
      }),
    );
  });

  afterAll(async () => {
    await sut?.close();
    await db?.end();
    await proxy.stop();
    await drop();
  });

  const ready = () => request(sut.getHttpServer()).get('/health/ready');
  const live = () => request(sut.getHttpServer()).get('/health/live');
  const readyWith = (status: number) =>
    waitFor(`readiness ${status}`, async () => {
      const r = await ready();
      return r.status === status ? r : undefined;
    });
  const liveWith = (status: number) =>
    waitFor(`liveness ${status}`, async () => {
      const r = await live();
      return r.status === status ? r : undefined;
    });
  const storedOffset = async () => {
    const { rows } = await db.query(`SELECT next_offset::int AS next FROM consumer_offset WHERE group_id = $1 AND topic = $2 AND partition = 0`, [groupId, topic]);
    return rows[0]?.next as number | undefined;
  };

  it('is ready once Postgres and the broker answer and the consumer has joined its group', async () => {
    const response = await readyWith(200);

    expect(response.body.status).toBe('ok');
    expect(response.body.details.postgres).toEqual({ status: 'up' });
    expect(response.body.details.kafka).toMatchObject({ status: 'up', brokers: 1 });
    expect(response.body.details.consumer).toMatchObject({ status: 'up', joined: true, partitions: 1 });
    expect(response.body.details.importer).toMatchObject({ status: 'up', role: 'disabled' });
    expect(response.body.details.export).toEqual({ status: 'up', running: null, held: null, newest_complete_age_ms: null, stale: false, schedule: null });
  });

  it('is live while the consume loop runs and nothing waits', async () => {
    await expect(live()).resolves.toMatchObject({
      status: 200,
      body: { status: 'ok', checks: { consumer: { status: 'up' }, ingest: { status: 'up' }, importer: { status: 'up' } } },
    });
  });

  it('asks the broker once per cache period, over one connection kept open', async () => {
    await readyWith(200);
    const opened = jest.spyOn(sut.get(KafkaAdapter).client, 'admin');
    try {
      const first = (await ready()).body.details.kafka.checkedAt as string;
      const second = (await ready()).body.details.kafka.checkedAt as string;
      expect(second).toBe(first);

      await new Promise((resolve) => setTimeout(resolve, BROKER_CACHE_MS + 100));
      const later = await ready();

      expect(later.status).toBe(200);
      expect(later.body.details.kafka.checkedAt).not.toBe(first);
      expect(opened).not.toHaveBeenCalled();
    } finally {
      opened.mockRestore();
    }
  });

  it('turns unready naming a partition stuck past the limit, not live while its loop makes no progress, and recovers when it moves', async () => {
    await produce(topic, [{ partition: 0, value: JSON.stringify(aProfileChange({ key: { customer_id: 'C-1' } })) }]);
    await waitFor('the first event stored', async () => ((await storedOffset()) === 1 ? true : undefined));

    // Holding the partition's offset row makes the next batch's transaction wait: a batch in work
    // that neither finishes nor fails, with Postgres itself answering.
    await db.query('BEGIN');
    await db.query(`SELECT 1 FROM consumer_offset WHERE group_id = $1 AND topic = $2 FOR UPDATE`, [groupId, topic]);
    try {
      await produce(topic, [{ partition: 0, value: JSON.stringify(aProfileChange({ key: { customer_id: 'C-2' } })) }]);

      const unready = await readyWith(503);
      expect(unready.body.status).toBe('error');
      expect(unready.body.details.postgres).toEqual({ status: 'up' });
      expect(unready.body.error.consumer).toMatchObject({ status: 'down', reason: 'partition_stuck', stuck: [{ topic, partition: 0, state: 'retrying' }] });
      expect(unready.body.error.consumer.stuck[0].forMs).toBeGreaterThanOrEqual(PARTITION_STUCK_MS);

      const dead = await liveWith(503);
      expect(dead.body.status).toBe('error');
      expect(dead.body.checks.ingest).toMatchObject({ status: 'down', reason: 'no_progress', inWork: 1 });
      expect(dead.body.checks.ingest.idleMs).toBeGreaterThanOrEqual(INGEST_STALL_MS);
    } finally {
      await db.query('ROLLBACK');
    }

    await waitFor('the second event stored', async () => ((await storedOffset()) === 2 ? true : undefined));
    await expect(readyWith(200)).resolves.toMatchObject({ body: { details: { consumer: { status: 'up' } } } });
    await expect(liveWith(200)).resolves.toMatchObject({ body: { checks: { ingest: { status: 'up' } } } });
  });

  it('reports Postgres down with a reason category and no driver text, and up again when it is back', async () => {
    await proxy.stop();
    try {
      const down = await readyWith(503);
      expect(down.body.status).toBe('error');
      expect(down.body.details.postgres).toEqual({ status: 'down', reason: expect.stringMatching(/^(unreachable|timeout)$/) });
      expect(down.body.details.kafka.status).toBe('up');
      expect(down.text).not.toMatch(/ECONNREFUSED|terminated|127\.0\.0\.1|postgres:\/\//);
      // An outage of a dependency is readiness's business; a restart would not bring Postgres back.
      await expect(live()).resolves.toMatchObject({ status: 200 });
    } finally {
      await proxy.start();
    }

    const up = await readyWith(200);
    expect(up.body.details.postgres).toEqual({ status: 'up' });
  });

  it('fails liveness once the consume loop has stopped while the process lives on', async () => {
    // The consume loop is the hybrid application's transport: close it, and only it.
    await Promise.all(sut.getMicroservices().map((transport) => transport.close()));

    const dead = await liveWith(503);

    expect(dead.body).toMatchObject({ status: 'error', checks: { consumer: { status: 'down', reason: 'consumer_stopped' } } });
    expect((await ready()).body.error.consumer).toMatchObject({ status: 'down', reason: 'not_joined' });
  });
});
