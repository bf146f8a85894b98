import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { Metrics } from '../../src/telemetry/metrics';
import { migratedDatabase } from '../support/database';
import { highWatermarks, produce, readTopic } from '../support/kafka-io';
import { waitUntilStaged } from '../support/pipeline';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

/**
 * Inputs that used to pass validation and then be refused by Postgres (which stalled the partition
 * for good) or be staged with a time that wins forever. Each must be exactly one dead letter, and
 * the good events around it must be staged.
 */
describe('ingest of poison inputs and key changes on one partition', () => {
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const eventsTopic = uniqueName('crm.profile-changes');
  const cdcTopic = uniqueName('crm.public.accounts');
  const dlqTopic = uniqueName('caac-sync.dlq');
  const now = Date.now();

  /** A profile-change.v1 event as JSON text; `"PLACE"` in it is replaced by raw JSON text. */
  const profileChange = (id: string, profile: Record<string, unknown>, occurredAt = new Date(now - 60_000).toISOString()) =>
    JSON.stringify({ event_id: `01JD8ZQ7N3X4Y5Z6A7B8C9D0${id.slice(-1)}0`, occurred_at: occurredAt, key: { customer_id: id }, profile });
  /** A Debezium insert (no schema wrapper) as JSON text, its source time and row written as given. */
  const insert = (row: string, tsMs: string = String(now - 60_000)) =>
    `{"before":null,"after":${row},"source":{"connector":"postgresql","ts_ms":${tsMs},"snapshot":"false"},"op":"c","ts_ms":${now}}`;
  const update = (before: string, after: string) =>
    `{"before":${before},"after":${after},"source":{"connector":"postgresql","ts_ms":${now - 30_000},"snapshot":"false"},"op":"u","ts_ms":${now}}`;

  beforeAll(async () => {
    const database = await migratedDatabase('ingest_poison');
    drop = database.drop;
    db = database.client;
    const mappingFile = join(mkdtempSync(join(tmpdir(), 'caac-poison-')), 'accounts.mapping.json');
    writeFileSync(
      mappingFile,
      JSON.stringify({ keys: [{ column: 'id', type: 'customer_id' }], fields: { id: 'customer_id', name: 'display_name', points: 'custom.points' } }),
    );
    await createTopics([{ topic: eventsTopic }, { topic: cdcTopic }, { topic: dlqTopic }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${eventsTopic}:profile-change.v1,${cdcTopic}:debezium:${mappingFile}`,
        KAFKA_GROUP_ID: uniqueName('ingest-poison'),
        DLQ_TOPIC: dlqTopic,
      }),
    );
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  it('stages the good events around each poison event and dead-letters each poison event once, with its class and reason', async () => {
    await produce(eventsTopic, [
      { value: profileChange('E-1', { display_name: 'Good One' }) },
      { value: profileChange('E-2', { display_name: 'PLACE' }).replace('"PLACE"', '"Amy\\u0000Lin"') },
      { value: profileChange('E-3', { custom: { tier: 'PLACE' } }).replace('"PLACE"', '"gold\\ud800"') },
      { value: profileChange('E-4', { display_name: 'From the future' }, '2099-01-01T00:00:00.000Z') },
      { value: profileChange('E-5', { display_name: 'Good Two' }) },
    ]);
    await produce(cdcTopic, [
      { value: insert('{"id":1001,"name":"Good Three","points":1}') },
      { value: insert('{"id":1002,"name":"Fraction","points":2}', `${now - 60_000}.5`) },
      { value: insert('{"id":1003,"name":"Huge","points":3}', '100000000000000000000') },
      { value: insert('{"id":1004,"name":"Nul\\u0000","points":4}') },
      { value: insert('{"id":9007199254740993,"name":"Big One","points":5}') },
      { value: insert('{"id":9007199254740992,"name":"Big Two","points":6}') },
      { value: insert('{"id":1005,"name":"Good Four","points":7}') },
    ]);
    await waitUntilStaged(db, eventsTopic);
    await waitUntilStaged(db, cdcTopic);

    const { rows } = await db.query(`SELECT key_value, fields->'display_name'->>'v' AS name FROM pending_change ORDER BY key_value`);
    expect(rows).toEqual([
      { key_value: '1001', name: 'Good Three' },
      { key_value: '1005', name: 'Good Four' },
      { key_value: '9007199254740992', name: 'Big Two' },
      { key_value: '9007199254740993', name: 'Big One' },
      { key_value: 'E-1', name: 'Good One' },
      { key_value: 'E-5', name: 'Good Two' },
    ]);

    const letters = await readTopic(dlqTopic, 6);
    const described = letters
      .map((letter) => ({
        topic: letter.headers[DEAD_LETTER_HEADER.topic],
        offset: letter.headers[DEAD_LETTER_HEADER.offset],
        errorClass: letter.headers[DEAD_LETTER_HEADER.errorClass],
        message: letter.headers[DEAD_LETTER_HEADER.message],
      }))
      .sort((a, b) => `${a.topic === eventsTopic ? 0 : 1}${a.offset}`.localeCompare(`${b.topic === eventsTopic ? 0 : 1}${b.offset}`));
    const control = 'must not contain control characters other than tab and line breaks (found U+0000)';
    const ahead = `ms since the epoch, more than 86400000 ms (MAX_FUTURE_SKEW_MS) ahead of this service's clock`;
    expect(described).toEqual([
      { topic: eventsTopic, offset: '1', errorClass: 'SchemaViolation', message: `profile.display_name: ${control}` },
      { topic: eventsTopic, offset: '2', errorClass: 'SchemaViolation', message: 'profile.custom.tier: must not contain a lone surrogate, which is not Unicode text (found U+D800)' },
      { topic: eventsTopic, offset: '3', errorClass: 'InvalidSourceTime', message: expect.stringContaining(`occurred_at: is 4070908800000 ${ahead}`) as unknown },
      { topic: cdcTopic, offset: '1', errorClass: 'InvalidSourceTime', message: `source.ts_ms: must be a whole number of milliseconds since the epoch, got ${now - 60_000 + 0.5}` },
      { topic: cdcTopic, offset: '2', errorClass: 'InvalidSourceTime', message: 'source.ts_ms: must be a whole number of milliseconds since the epoch, got 100000000000000000000' },
      { topic: cdcTopic, offset: '3', errorClass: 'InvalidField', message: `name -> display_name: ${control}` },
    ]);
    // Exactly once: the topic holds these six letters and no more.
    const high = await highWatermarks(dlqTopic);
    expect([...high.values()].reduce((sum, offset) => sum + offset, 0n)).toBe(6n);
  });

  it('stages an update that moved its row to another key whole under the new key, and counts it', async () => {
    const keyChanged = async () =>
      (await sut.get(Metrics).ingestEvents.get()).values.find((v) => v.labels.topic === cdcTopic && v.labels.outcome === 'key_changed')?.value ?? 0;
    const before = await keyChanged();

    // Only the key column changed: this used to be dropped as "no mapped field to send".
    await produce(cdcTopic, [{ value: update('{"id":2001,"name":"Moved","points":8}', '{"id":2002,"name":"Moved","points":8}') }]);
    await waitUntilStaged(db, cdcTopic);

    const { rows } = await db.query(`SELECT key_value, fields FROM pending_change WHERE key_value IN ('2001', '2002')`);
    expect(rows.map((row: { key_value: string; fields: Record<string, { v: unknown }> }) => [row.key_value, row.fields.display_name?.v, row.fields.cl_custom_points?.v])).toEqual([
      ['2002', 'Moved', 8],
    ]);
    expect([before, await keyChanged()]).toEqual([0, 1]);
  });
});
