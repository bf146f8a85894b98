import type { Client } from 'pg';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { expectStagedAsModel, readEveryDeadLetter, waitUntilStaged } from '../support/pipeline';
import { generateStream } from '../support/profile-events';
import { createTopics, uniqueName } from '../support/service';
import { ServiceProcess } from '../support/service-process';
import { waitFor } from '../support/wait-for';

const PARTITIONS = 3;

describe('ingest under SIGTERM', () => {
  let db: Client;
  let drop: () => Promise<void>;
  let service: ServiceProcess;
  const topic = uniqueName('shutdown.profile-changes');
  const dlqTopic = uniqueName('shutdown.dlq');

  beforeAll(async () => {
    const database = await migratedDatabase('ingest_shutdown');
    ({ drop, client: db } = database);
    await createTopics([{ topic, partitions: PARTITIONS }, { topic: dlqTopic }]);
    service = new ServiceProcess({
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('shutdown'),
      DLQ_TOPIC: dlqTopic,
      IMPORTER_ENABLED: 'false',
      CAAC_BASE_URL: 'http://127.0.0.1:9', // nothing listens: this test is about staging only
      INGEST_MAX_BYTES_PER_PARTITION: '32768', // many small batches: the stop lands in the middle of one
    });
  });

  afterAll(async () => {
    await service?.kill();
    await drop?.();
  });

  it('stops mid-stream without an error: the batches in hand finish, their letters go out, and a restart loses nothing', async () => {
    const stream = generateStream({ seed: 5151, events: 12_000, contacts: 400, partitions: PARTITIONS, badRate: 0.05 });
    await service.start();
    await produce(topic, stream.messages);
    await waitFor(
      'the first stored batches',
      async () => ((await db.query(`SELECT count(*)::int AS n FROM consumer_offset WHERE topic = $1`, [topic])).rows[0].n > 0 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 20 },
    );

    await service.stop(20_000);

    // Nest re-raises the signal after its shutdown hooks: the process ends by SIGTERM, not a timeout kill.
    expect(service.logs()).not.toMatch(/"level":(50|60)/);
    expect(service.logs()).not.toMatch(/graceful shutdown timed out/);
    await service.start();
    await waitUntilStaged(db, topic, 120_000);
    await expectStagedAsModel(db, stream);
    await readEveryDeadLetter(dlqTopic, stream, 60_000);
  }, 240_000);
});
