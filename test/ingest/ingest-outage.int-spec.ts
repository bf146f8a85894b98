import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import request from 'supertest';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { expectStagedAsModel, readEveryDeadLetter, waitUntilStaged } from '../support/pipeline';
import { generateStream } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait-for';

const PARTITIONS = 3;

describe('ingest while Postgres is unreachable', () => {
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(process.env.TEST_ADMIN_DATABASE_URL!).port || 5432));
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const topic = uniqueName('outage.profile-changes');
  const dlqTopic = uniqueName('outage.dlq');

  beforeAll(async () => {
    const database = await migratedDatabase('ingest_outage');
    drop = database.drop;
    db = database.client;
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    await createTopics([{ topic, partitions: PARTITIONS }, { topic: dlqTopic }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: viaProxy.toString(),
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('outage'),
        DLQ_TOPIC: dlqTopic,
        IMPORTER_ENABLED: 'false',
        INGEST_MAX_BYTES_PER_PARTITION: '8192', // many small batches, so some wait while Postgres is away
        INGEST_PAUSE_AFTER_MS: '200',
        // Fewer than the partitions: a batch waiting for a free slot is paused too.
        INGEST_PARTITIONS_CONCURRENCY: '2',
      }),
    );
  });

  afterAll(async () => {
    await sut?.close();
    await proxy.stop();
    await drop?.();
  });

  const consumerDetails = async (): Promise<{ paused: number }> =>
    (await request(sut.getHttpServer()).get('/health/ready')).body.details.consumer;
  const retries = async (): Promise<number> => {
    const metrics = (await request(sut.getHttpServer()).get('/metrics')).text;
    return Number(/^caac_sync_ingest_batch_retries_total (\d+)/m.exec(metrics)?.[1] ?? 0);
  };

  it('pauses the waiting partitions, retries, and once Postgres is back stages every event as if nothing happened', async () => {
    const stream = generateStream({ seed: 777, events: 3_000, contacts: 200, partitions: PARTITIONS });
    const half = stream.messages.length / 2;
    await produce(topic, stream.messages.slice(0, half));
    await waitFor('a first batch stored', async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM consumer_offset WHERE topic = $1 AND next_offset > 0`, [topic]);
      return rows[0].n > 0 ? true : undefined;
    });

    await proxy.stop();
    await produce(topic, stream.messages.slice(half));
    await waitFor('partitions paused while their batches cannot be stored', async () => ((await consumerDetails()).paused > 0 ? true : undefined));
    await waitFor('the batches retried', async () => ((await retries()) > 0 ? true : undefined));

    await proxy.start();
    await waitUntilStaged(db, topic);

    expect((await consumerDetails()).paused).toBe(0);
    await expectStagedAsModel(db, stream);
    const { letters, bad } = await readEveryDeadLetter(dlqTopic, stream, 30_000);
    expect(new Set(letters.map((letter) => letter.value!.toString('base64')))).toEqual(bad);
    // A lost connection is transient: no batch was taken for refused data, no event dead-lettered for it.
    const metrics = (await request(sut.getHttpServer()).get('/metrics')).text;
    expect(metrics).not.toMatch(/^caac_sync_ingest_isolations_total\{/m);
    expect(letters.filter((letter) => letter.headers['caac-sync.errors.class'] === 'StorageRejected')).toEqual([]);
  });
});
