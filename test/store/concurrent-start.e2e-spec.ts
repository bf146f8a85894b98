import { Client } from 'pg';
import { MIGRATIONS } from '../../src/migrations';
import { MIGRATIONS_TABLE } from '../../src/store/data-source';
import { freshDatabase } from '../support/database';
import { createTopics, uniqueName } from '../support/service';
import { ServiceProcess } from '../support/service-process';

describe('replicas starting together on an empty database (MIGRATE_ON_START)', () => {
  let drop: () => Promise<void>;
  let url: string;
  const topic = uniqueName('replicas.profile-changes');
  const dlqTopic = uniqueName('replicas.dlq');
  const groupId = uniqueName('replicas');
  let replicas: ServiceProcess[] = [];

  beforeAll(async () => {
    const database = await freshDatabase('concurrent_start');
    drop = database.drop;
    url = database.url;
    await createTopics([{ topic, partitions: 3 }, { topic: dlqTopic }]);
  });

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await drop?.();
  });

  it('all become ready, and every migration is applied once', async () => {
    replicas = [1, 2, 3].map(
      () =>
        new ServiceProcess({
          DATABASE_URL: url,
          MIGRATE_ON_START: 'true',
          SOURCE_TOPICS: `${topic}:profile-change.v1`,
          KAFKA_GROUP_ID: groupId,
          DLQ_TOPIC: dlqTopic,
          CAAC_BASE_URL: 'http://127.0.0.1:9', // nothing listens: this test is about starting
          FLUSH_INTERVAL_MS: '86400000',
          KAFKA_SESSION_TIMEOUT_MS: '6000',
        }),
    );

    // start() resolves once /health/ready answers 200, and rejects if the process exits.
    await expect(Promise.all(replicas.map((replica) => replica.start()))).resolves.toHaveLength(3);

    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT name, count(*)::int AS n FROM ${MIGRATIONS_TABLE} GROUP BY name ORDER BY min(id)`);
      expect(rows).toEqual(MIGRATIONS.map((migration) => ({ name: new migration().name, n: 1 })));
    } finally {
      await client.end();
    }
    for (const replica of replicas) expect(replica.logs()).not.toMatch(/failed to start/);
  });
});
