import { Writable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import request from 'supertest';
import { createLogger } from '../../src/common/logger';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { migratedDatabase } from '../support/database';
import { highWatermarks, produce, readTopic } from '../support/kafka-io';
import { waitUntilStaged } from '../support/pipeline';
import { aProfileChange } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

/**
 * Postgres itself refuses some data: a trigger raises `invalid_text_representation` (22P02) for a
 * marked key, as Postgres does for text it cannot store. This stays a storage refusal whatever
 * validation learns to catch before it.
 */
const REFUSE_MARKED_KEYS = `
  CREATE FUNCTION test_refuse_marked_keys() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.key_value LIKE 'poison%' THEN
      RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22P02';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER test_refuse_marked_keys BEFORE INSERT OR UPDATE ON pending_change
    FOR EACH ROW EXECUTE FUNCTION test_refuse_marked_keys();`;

const anEmailKeyedEvent = (email: string) =>
  Buffer.from(JSON.stringify(aProfileChange({ key: { display_email: email }, profile: { display_name: `Name of ${email}` } })));

describe('ingest of events Postgres refuses', () => {
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const log: string[] = [];
  const topic = uniqueName('refused.profile-changes');
  const dlqTopic = uniqueName('refused.dlq');

  beforeAll(async () => {
    const database = await migratedDatabase('ingest_refused');
    drop = database.drop;
    db = database.client;
    await db.query(REFUSE_MARKED_KEYS);
    await createTopics([{ topic }]);
    const config = testConfig({
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('refused'),
      DLQ_TOPIC: dlqTopic,
      IMPORTER_ENABLED: 'false',
      LOG_LEVEL: 'info',
    });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        log.push(chunk.toString());
        done();
      },
    });
    sut = await startService(config, createLogger({ level: 'info', destination }));
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  it('stages the good events, dead-letters each refused one once with its SQLSTATE, moves the offset to the end, and logs no e-mail address', async () => {
    const good = Array.from({ length: 80 }, (_, i) => `amy.${i}@example.com`);
    const poisoned = ['poison-1@example.com', 'poison-2@example.com', 'poison-3@example.com', 'poison-4@example.com'];
    // Good events around the refused ones; two refused ones side by side.
    const emails = [...good.slice(0, 20), poisoned[0]!, ...good.slice(20, 40), poisoned[1]!, ...good.slice(40, 60), poisoned[2]!, poisoned[3]!, ...good.slice(60)];
    const messages = emails.map((email) => ({ partition: 0, key: email, value: anEmailKeyedEvent(email) }));

    await produce(topic, messages);
    await waitUntilStaged(db, topic, 60_000);

    const { rows: staged } = await db.query(`SELECT key_value FROM pending_change WHERE key_type = 'display_email' ORDER BY key_value`);
    expect(staged.map((row: { key_value: string }) => row.key_value)).toEqual([...good].sort());
    const { rows: offsets } = await db.query(`SELECT next_offset::text AS next FROM consumer_offset WHERE topic = $1`, [topic]);
    expect(offsets).toEqual([{ next: String(messages.length) }]);

    const letters = await readTopic(dlqTopic, poisoned.length, 30_000);
    expect([...(await highWatermarks(dlqTopic)).values()].reduce((sum, high) => sum + high, 0n)).toBe(BigInt(poisoned.length));
    const byOffset = [...letters].sort((a, b) => Number(a.headers[DEAD_LETTER_HEADER.offset]) - Number(b.headers[DEAD_LETTER_HEADER.offset]));
    const sentValue = new Map(messages.map((message) => [message.key, message.value]));
    expect(byOffset.map((letter) => [letter.key?.toString(), letter.value])).toEqual(poisoned.map((email) => [email, sentValue.get(email)]));
    for (const letter of byOffset) {
      expect(letter.headers).toMatchObject({
        [DEAD_LETTER_HEADER.stage]: 'validate',
        [DEAD_LETTER_HEADER.errorClass]: 'StorageRejected',
        [DEAD_LETTER_HEADER.message]: 'Postgres refused the data: SQLSTATE 22P02 (invalid_text_representation)',
        [DEAD_LETTER_HEADER.offset]: String(emails.indexOf(letter.key!.toString())),
      });
    }

    const metrics = (await request(sut.getHttpServer()).get('/metrics')).text;
    expect(Number(/^caac_sync_ingest_isolations_total\{topic="[^"]+"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/^caac_sync_ingest_events_total\{topic="[^"]+",outcome="storage_rejected"\} (\d+)/m.exec(metrics)?.[1])).toBe(poisoned.length);
    expect(Number(/^caac_sync_ingest_batch_retries_total (\d+)/m.exec(metrics)?.[1])).toBe(0);

    // The refused staging statement was logged, with its SQLSTATE, but none of its parameters.
    const text = log.join('');
    const refusals = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; err?: { code?: string; query?: unknown; parameters?: unknown } })
      .filter((line) => line.err?.code === '22P02');
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    for (const email of emails) expect(text).not.toContain(email);
  });
});
