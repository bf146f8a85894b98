import type { Client } from 'pg';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { expectStagedAsModel, readEveryDeadLetter, waitUntilStaged } from '../support/pipeline';
import { generateStream, seededRandom } from '../support/profile-events';
import { createTopics, uniqueName } from '../support/service';
import { ServiceProcess } from '../support/service-process';

const PARTITIONS = 3;
const SEED = 4242;

describe('ingest under SIGKILL', () => {
  let db: Client;
  let drop: () => Promise<void>;
  let service: ServiceProcess;
  const topic = uniqueName('crash.profile-changes');
  const dlqTopic = uniqueName('crash.dlq');
  const groupId = uniqueName('crash');

  beforeAll(async () => {
    const database = await migratedDatabase('ingest_crash');
    drop = database.drop;
    db = database.client;
    await createTopics([{ topic, partitions: PARTITIONS }, { topic: dlqTopic }]);
    service = new ServiceProcess({
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: groupId,
      DLQ_TOPIC: dlqTopic,
      CAAC_BASE_URL: 'http://127.0.0.1:9', // nothing listens: this test is about staging only
      FLUSH_INTERVAL_MS: '86400000',
      INGEST_MAX_BYTES_PER_PARTITION: '32768',
      // A fetch of ~150 events is staged in parts of 40, one transaction each: kills land between parts too.
      INGEST_MAX_BATCH_EVENTS: '40',
      KAFKA_SESSION_TIMEOUT_MS: '6000', // a killed member's partitions come back after this
    });
  });

  afterAll(async () => {
    await service?.kill();
    await drop?.();
  });

  it('loses nothing and applies nothing twice when killed at random moments while events flow', async () => {
    const stream = generateStream({ seed: SEED, events: 12_000, contacts: 400, partitions: PARTITIONS });
    const random = seededRandom(SEED);
    await service.start();

    const chunks = 9;
    const size = Math.ceil(stream.messages.length / chunks);
    let kills = 0;
    for (let i = 0; i < chunks; i++) {
      await produce(topic, stream.messages.slice(i * size, (i + 1) * size));
      if (i % 3 === 1) {
        // Let the consumer get into the middle of the new messages, then cut it off.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 400)));
        await service.kill();
        kills++;
        await service.start();
      }
    }

    await waitUntilStaged(db, topic, 90_000);

    expect(kills).toBe(3);
    await expectStagedAsModel(db, stream);

    // Every bad event is dead-lettered, some maybe twice (a kill after the letters went out).
    const { letters } = await readEveryDeadLetter(dlqTopic, stream, 60_000);
    expect(letters.length).toBeGreaterThanOrEqual(stream.badCount);
  });
});
