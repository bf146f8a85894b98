import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { migratedDatabase } from '../support/database';
import { produce, readTopic } from '../support/kafka-io';
import { expectStagedAsModel, pendingValues, waitUntilStaged } from '../support/pipeline';
import { generateStream } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

const PARTITIONS = 3;

describe('ingest from Kafka into pending changes', () => {
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const topic = uniqueName('crm.profile-changes');
  const dlqTopic = uniqueName('caac-sync.dlq');
  const groupId = uniqueName('ingest');

  beforeAll(async () => {
    const database = await migratedDatabase('ingest');
    drop = database.drop;
    db = database.client;
    await createTopics([{ topic, partitions: PARTITIONS }, { topic: dlqTopic }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: groupId,
        DLQ_TOPIC: dlqTopic,
        INGEST_MAX_BYTES_PER_PARTITION: '65536', // many small batches, so coalescing spans batches
      }),
    );
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  it('ends with pending changes equal to the newest value per field, and every bad event dead-lettered', async () => {
    const stream = generateStream({ seed: 20261128, events: 4_000, contacts: 300, partitions: PARTITIONS });

    await produce(topic, stream.messages);
    await waitUntilStaged(db, topic);

    await expectStagedAsModel(db, stream);

    const letters = await readTopic(dlqTopic, stream.badCount);
    expect(letters).toHaveLength(stream.badCount);
    const sentBad = stream.messages.filter((m) => m.bad).map((m) => m.value.toString('base64')).sort();
    expect(letters.map((l) => l.value!.toString('base64')).sort()).toEqual(sentBad);
    for (const letter of letters) {
      expect(letter.headers).toMatchObject({
        [DEAD_LETTER_HEADER.stage]: expect.stringMatching(/^(decode|validate)$/),
        [DEAD_LETTER_HEADER.errorClass]: expect.any(String),
        [DEAD_LETTER_HEADER.message]: expect.any(String),
        [DEAD_LETTER_HEADER.topic]: topic,
        [DEAD_LETTER_HEADER.partition]: expect.stringMatching(/^[0-2]$/),
        [DEAD_LETTER_HEADER.offset]: expect.stringMatching(/^\d+$/),
        [DEAD_LETTER_HEADER.timestamp]: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      });
    }
  });

  it('changes nothing when the same events are delivered again', async () => {
    const before = await pendingValues(db);
    const replay = generateStream({ seed: 20261128, events: 4_000, contacts: 300, partitions: PARTITIONS });

    // The same events again, at new offsets (a producer retrying, or a replayed topic).
    await produce(topic, replay.messages.filter((m) => !m.bad));
    await waitUntilStaged(db, topic);

    await expect(pendingValues(db)).resolves.toEqual(before);
  });
});
