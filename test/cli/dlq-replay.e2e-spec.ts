import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { REPLAY_HEADER } from '../../src/cli/dead-letter-replay';
import { aCustomerRow, anInsert, toMessage, withSchema } from '../ingest/decoders/debezium.factory';
import { runCli } from '../support/cli-process';
import { migratedDatabase } from '../support/database';
import { highWatermarks, produce, readTopic } from '../support/kafka-io';
import { waitUntilStaged } from '../support/pipeline';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

const MAPPING = JSON.parse(readFileSync(resolve(__dirname, '../../config/customers.mapping.json'), 'utf8')) as { fields: Record<string, unknown> };

/** The CRM's mapping before and after the fix: it did not know gender code "O". */
function mappingFile(dir: string, name: string, genders: Record<string, string>): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ ...MAPPING, fields: { ...MAPPING.fields, gender: { field: 'gender', values: genders } } }));
  return file;
}

async function stagedGenders(db: Client): Promise<Record<string, unknown>> {
  const { rows } = await db.query(`SELECT key_value, fields->'gender'->>'v' AS gender FROM pending_change WHERE key_type = 'customer_id' ORDER BY key_value`);
  return Object.fromEntries(rows.map((row: { key_value: string; gender: string | null }) => [row.key_value, row.gender]));
}

describe('npm run cli -- dlq:replay', () => {
  const topic = uniqueName('replay.crm.public.customers');
  const dlqTopic = uniqueName('replay.dlq');
  const groupId = uniqueName('replay');
  const dir = mkdtempSync(join(tmpdir(), 'caac-replay-'));
  const before = mappingFile(dir, 'before.json', { M: 'male', F: 'female' });
  const fixed = mappingFile(dir, 'fixed.json', { M: 'male', F: 'female', O: 'other' });
  let db: Client;
  let databaseUrl: string;
  let drop: () => Promise<void>;
  let service: INestApplication | undefined;
  const env = (mapping: string) => ({
    DATABASE_URL: databaseUrl,
    SOURCE_TOPICS: `${topic}:debezium:${mapping}`,
    KAFKA_GROUP_ID: groupId,
    DLQ_TOPIC: dlqTopic,
    IMPORTER_ENABLED: 'false',
  });

  beforeAll(async () => {
    ({ client: db, url: databaseUrl, drop } = await migratedDatabase('cli_replay'));
    await createTopics([{ topic }, { topic: dlqTopic }]);
  });

  afterAll(async () => {
    await service?.close();
    await drop?.();
  });

  it('re-publishes each letter once after a mapping fix, re-queues import letters, and the fixed service stages them', async () => {
    // 1. The service with the old mapping dead-letters the three rows with gender "O".
    service = await startService(testConfig(env(before)));
    const rows = [
      aCustomerRow({ customer_id: 'R-1', gender: 'M' }),
      aCustomerRow({ customer_id: 'R-2', gender: 'O' }),
      aCustomerRow({ customer_id: 'R-3', gender: 'O' }),
      aCustomerRow({ customer_id: 'R-4', gender: 'F' }),
      aCustomerRow({ customer_id: 'R-5', gender: 'O' }),
    ];
    await produce(topic, rows.map((row) => ({ key: String(row.customer_id), value: toMessage(withSchema(anInsert(row))) })));
    await waitUntilStaged(db, topic);
    const letters = await readTopic(dlqTopic, 3);
    await service.close();
    service = undefined;
    await expect(stagedGenders(db)).resolves.toEqual({ 'R-1': 'male', 'R-4': 'female' });
    expect(letters.map((letter) => [letter.key?.toString(), letter.headers[DEAD_LETTER_HEADER.errorClass]])).toEqual([
      ['R-2', 'InvalidField'],
      ['R-3', 'InvalidField'],
      ['R-5', 'InvalidField'],
    ]);
    // Letters are at least once: the first one arrives a second time. And the importer left one
    // letter of a row CAAC refused (a patch, not a source event).
    const first = letters[0]!;
    await produce(dlqTopic, [{ key: first.key!.toString(), value: first.value, headers: first.headers }]);
    await produce(dlqTopic, [
      {
        key: 'customer_id:IMP-1',
        value: JSON.stringify({ key: { customer_id: 'IMP-1' }, profile: { customer_id: 'IMP-1', display_name: 'Imported Again' }, batch_id: '7' }),
        headers: { [DEAD_LETTER_HEADER.stage]: 'import', [DEAD_LETTER_HEADER.errorClass]: 'row_failed', [DEAD_LETTER_HEADER.message]: 'refused', [DEAD_LETTER_HEADER.timestamp]: '2026-12-01T10:00:00.000Z' },
      },
    ]);
    const sourceEnd = (await highWatermarks(topic)).get(0)!;

    // 2. A dry run counts and sends nothing.
    const dry = await runCli(['dlq:replay', '--dry-run', '--stage', 'validate', '--json'], env(fixed));
    expect([dry.code, dry.stderr]).toEqual([0, '']);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, read: 5, republished: 0, requeued: 0, duplicates: 1, skipped: { filtered: 1 }, matched: { [`validate/InvalidField/${topic}`]: 3 } });
    await expect(highWatermarks(topic)).resolves.toEqual(new Map([[0, sourceEnd]]));

    // 3. The replay sends each ingest letter once, with the replay headers, and re-queues the import letter.
    const replay = await runCli(['dlq:replay', '--json'], env(fixed));
    expect([replay.code, replay.stderr]).toEqual([0, '']);
    const summary = JSON.parse(replay.stdout);
    expect(summary).toMatchObject({ dryRun: false, read: 5, republished: 3, requeued: 1, duplicates: 1, skipped: {} });
    await expect(highWatermarks(topic)).resolves.toEqual(new Map([[0, sourceEnd + 3n]]));
    const replayed = (await readTopic(topic, 8)).slice(5);
    expect(replayed.map((message) => [message.key?.toString(), message.value, message.headers])).toEqual(
      letters.map((letter) => [
        letter.key?.toString(),
        letter.value,
        { [REPLAY_HEADER.run]: summary.run, [REPLAY_HEADER.letter]: `${dlqTopic}/0/${letter.offset}` },
      ]),
    );
    const { rows: requeued } = await db.query(`SELECT fields FROM pending_change WHERE key_type = 'customer_id' AND key_value = 'IMP-1'`);
    expect(requeued).toEqual([{ fields: { display_name: { v: 'Imported Again', ts: Date.parse('2026-12-01T10:00:00.000Z'), seq: 0 } } }]);

    // 4. The service with the fixed mapping stages the replayed rows and dead-letters nothing new.
    service = await startService(testConfig(env(fixed)));
    await waitUntilStaged(db, topic);
    await expect(stagedGenders(db)).resolves.toEqual({ 'IMP-1': null, 'R-1': 'male', 'R-2': 'other', 'R-3': 'other', 'R-4': 'female', 'R-5': 'other' });
    await expect(highWatermarks(dlqTopic)).resolves.toEqual(new Map([[0, 5n]]));
  }, 180_000);
});
