import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { migratedDatabase } from '../support/database';
import { highWatermarks, produce, readTopic } from '../support/kafka-io';
import { generateStream } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

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

  async function storedOffsets(): Promise<Map<number, bigint>> {
    const { rows } = await db.query(
      `SELECT partition, next_offset::text AS next FROM consumer_offset WHERE group_id = $1 AND topic = $2`,
      [groupId, topic],
    );
    return new Map(rows.map((row: { partition: number; next: string }) => [row.partition, BigInt(row.next)]));
  }

  async function pendingState(): Promise<Map<string, Record<string, unknown>>> {
    const { rows } = await db.query(`SELECT key_value, fields FROM pending_change WHERE key_type = 'customer_id'`);
    return new Map(
      rows.map((row: { key_value: string; fields: Record<string, { v: unknown }> }) => [
        row.key_value,
        Object.fromEntries(Object.entries(row.fields).map(([field, stamped]) => [field, stamped.v])),
      ]),
    );
  }

  it('ends with pending changes equal to the newest value per field, and every bad event dead-lettered', async () => {
    const stream = generateStream({ seed: 20261128, events: 4_000, contacts: 300, partitions: PARTITIONS });

    await produce(topic, stream.messages);
    const high = await highWatermarks(topic);
    await waitFor(
      'every partition stored up to its high watermark',
      async () => {
        const stored = await storedOffsets();
        return [...high].every(([partition, offset]) => offset === 0n || stored.get(partition) === offset) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    const pending = await pendingState();
    expect(pending.size).toBe(stream.expected.size);
    for (const [customerId, fields] of stream.expected) expect([customerId, pending.get(customerId)]).toEqual([customerId, fields]);

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
    const before = await pendingState();
    const replay = generateStream({ seed: 20261128, events: 4_000, contacts: 300, partitions: PARTITIONS });

    // The same events again, at new offsets (a producer retrying, or a replayed topic).
    await produce(topic, replay.messages.filter((m) => !m.bad));
    const high = await highWatermarks(topic);
    await waitFor('the replay stored', async () => {
      const stored = await storedOffsets();
      return [...high].every(([partition, offset]) => offset === 0n || stored.get(partition) === offset) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });

    await expect(pendingState()).resolves.toEqual(before);
  });
});
