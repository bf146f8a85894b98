import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { CompressionTypes } from 'kafkajs';
import type { Client } from 'pg';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { migratedDatabase } from '../support/database';
import { describeTopic, highWatermarks, produce, readTopic } from '../support/kafka-io';
import { waitUntilStaged } from '../support/pipeline';
import { aProfileChange } from '../support/profile-events';
import { createTopics, startService, testConfig, testKafka, uniqueName } from '../support/service';

const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
const DLQ_MAX_VALUE_BYTES = 262_144;

const aGoodEvent = (customerId: string) => Buffer.from(JSON.stringify(aProfileChange({ key: { customer_id: customerId }, profile: { display_name: `Name of ${customerId}` } })));
// A producer deployed with a changed event_id format: every event fails validation.
const aBadIdEvent = (i: number) => Buffer.from(JSON.stringify(aProfileChange({ event_id: `order-${i}/v2`, key: { customer_id: `B-${i}` } })));

async function sumOfHighWatermarks(topic: string): Promise<bigint> {
  return [...(await highWatermarks(topic)).values()].reduce((sum, high) => sum + high, 0n);
}

async function stagedCustomers(db: Client): Promise<string[]> {
  const { rows } = await db.query(`SELECT key_value FROM pending_change WHERE key_type = 'customer_id' ORDER BY key_value`);
  return rows.map((row: { key_value: string }) => row.key_value);
}

async function storedOffset(db: Client, topic: string): Promise<string | undefined> {
  const { rows } = await db.query(`SELECT next_offset::text AS next FROM consumer_offset WHERE topic = $1 AND partition = 0`, [topic]);
  return rows[0]?.next;
}

describe('ingest of a partition with thousands of bad events', () => {
  const GOOD_BEFORE = Array.from({ length: 50 }, (_, i) => `G-${String(i).padStart(3, '0')}`);
  const GOOD_AFTER = Array.from({ length: 50 }, (_, i) => `G-${String(50 + i).padStart(3, '0')}`);
  const BAD = 5_000;

  it.each([
    ['the service creates the dead-letter topic', false],
    ['an operator created the dead-letter topic with the broker defaults', true],
  ])('stages every good event and dead-letters every bad one exactly once when %s', async (_, dlqExists) => {
    const database = await migratedDatabase('ingest_many_bad');
    const topic = uniqueName('many-bad.profile-changes');
    const dlqTopic = uniqueName('many-bad.dlq');
    let sut: INestApplication | undefined;
    try {
      await createTopics(dlqExists ? [{ topic }, { topic: dlqTopic }] : [{ topic }]);
      sut = await startService(
        testConfig({
          DATABASE_URL: database.url,
          SOURCE_TOPICS: `${topic}:profile-change.v1`,
          KAFKA_GROUP_ID: uniqueName('many-bad'),
          DLQ_TOPIC: dlqTopic,
          DLQ_PARTITIONS: '2',
          IMPORTER_ENABLED: 'false',
          // One fetch holds the whole partition: all 5,000 letters belong to one batch.
          INGEST_MAX_BYTES_PER_PARTITION: String(8 * 1_048_576),
        }),
      );
      const messages = [
        ...GOOD_BEFORE.map((id) => ({ partition: 0, key: id, value: aGoodEvent(id) })),
        ...Array.from({ length: BAD }, (_, i) => ({ partition: 0, key: `B-${i}`, value: aBadIdEvent(i) })),
        ...GOOD_AFTER.map((id) => ({ partition: 0, key: id, value: aGoodEvent(id) })),
      ];

      await produce(topic, messages);
      await waitUntilStaged(database.client, topic, 120_000);

      await expect(stagedCustomers(database.client)).resolves.toEqual([...GOOD_BEFORE, ...GOOD_AFTER]);
      await expect(storedOffset(database.client, topic)).resolves.toBe(String(messages.length));
      const letters = await readTopic(dlqTopic, BAD, 60_000);
      await expect(sumOfHighWatermarks(dlqTopic)).resolves.toBe(BigInt(BAD)); // each exactly once
      expect(letters.map((letter) => Number(letter.headers[DEAD_LETTER_HEADER.offset])).sort((a, b) => a - b)).toEqual(
        Array.from({ length: BAD }, (_, i) => GOOD_BEFORE.length + i),
      );
      for (const letter of letters) {
        const offset = Number(letter.headers[DEAD_LETTER_HEADER.offset]);
        expect([letter.key?.toString(), letter.value]).toEqual([`B-${offset - GOOD_BEFORE.length}`, aBadIdEvent(offset - GOOD_BEFORE.length)]);
        expect(letter.headers).toEqual({
          [DEAD_LETTER_HEADER.stage]: 'validate',
          [DEAD_LETTER_HEADER.errorClass]: 'SchemaViolation',
          [DEAD_LETTER_HEADER.message]: expect.stringContaining('event_id'),
          [DEAD_LETTER_HEADER.topic]: topic,
          [DEAD_LETTER_HEADER.partition]: '0',
          [DEAD_LETTER_HEADER.offset]: String(offset),
          [DEAD_LETTER_HEADER.timestamp]: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        });
      }
      await expect(describeTopic(dlqTopic)).resolves.toEqual(
        dlqExists
          ? { partitions: 1, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES }
          : { partitions: 2, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES }, // 256 KiB + 64 KiB is below Kafka's default
      );
    } finally {
      await sut?.close();
      await database.drop();
    }
  });
});

describe('ingest of a 2 MB event', () => {
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const topic = uniqueName('big.profile-changes');
  const dlqTopic = uniqueName('big.dlq');

  beforeAll(async () => {
    const database = await migratedDatabase('ingest_big_event');
    drop = database.drop;
    db = database.client;
    // The brand's topic takes large messages; the service's limit on events stays at 1 MiB.
    await createTopics([{ topic, config: { 'max.message.bytes': String(4 * 1_048_576) } }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('big'),
        DLQ_TOPIC: dlqTopic,
        DLQ_MAX_VALUE_BYTES: String(DLQ_MAX_VALUE_BYTES),
        IMPORTER_ENABLED: 'false',
      }),
    );
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  it('stages the good events around it and dead-letters it once, cut to DLQ_MAX_VALUE_BYTES with its size and SHA-256', async () => {
    // Random text, so that even gzip-compressed the record is over Kafka's default 1 MiB.
    const filler = Array.from({ length: 2_000_000 / 16 }, () => Math.random().toString(36).slice(2, 10).padEnd(8, '0')).join('').repeat(2);
    const big = Buffer.from(JSON.stringify(aProfileChange({ key: { customer_id: 'C-BIG' }, profile: { display_name: 'Big', custom: { notes: filler } } })));
    const producer = testKafka().producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: [
          { partition: 0, key: 'C-1', value: aGoodEvent('C-1') },
          { partition: 0, key: 'C-BIG', value: big },
          { partition: 0, key: 'C-2', value: aGoodEvent('C-2') },
        ],
      });
    } finally {
      await producer.disconnect();
    }

    await waitUntilStaged(db, topic, 60_000);

    await expect(stagedCustomers(db)).resolves.toEqual(['C-1', 'C-2']);
    await expect(storedOffset(db, topic)).resolves.toBe('3');
    const [letter, ...more] = await readTopic(dlqTopic, 1, 30_000);
    expect(more).toEqual([]);
    await expect(sumOfHighWatermarks(dlqTopic)).resolves.toBe(1n);
    expect(big.length).toBeGreaterThan(2_000_000);
    expect(letter!.value).toEqual(big.subarray(0, DLQ_MAX_VALUE_BYTES));
    expect(letter!.headers).toMatchObject({
      [DEAD_LETTER_HEADER.stage]: 'decode',
      [DEAD_LETTER_HEADER.errorClass]: 'MessageTooLarge',
      [DEAD_LETTER_HEADER.offset]: '1',
      [DEAD_LETTER_HEADER.valueTruncated]: 'true',
      [DEAD_LETTER_HEADER.valueOriginalBytes]: String(big.length),
      [DEAD_LETTER_HEADER.valueSha256]: createHash('sha256').update(big).digest('hex'),
    });
  });
});
