import { resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { generateDebeziumStream } from '../support/debezium-events';
import { produce, readTopic } from '../support/kafka-io';
import { generateStream } from '../support/profile-events';
import { apiRuleViolations, sandboxContacts, sandboxLog } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import type { Client } from 'pg';

const PARTITIONS = 3;
const WINDOW_MS = 4_000; // the API's minute, scaled
const MAX_ROWS = 150;
const FLUSH_MS = 1_000;

describe('CRM changes to CAAC, end to end', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let service: INestApplication | undefined;
  const changes = uniqueName('e2e.profile-changes');
  const customers = uniqueName('e2e.crm.public.customers');
  const dlq = uniqueName('e2e.dlq');
  const groupId = uniqueName('e2e');
  let env: Record<string, string>;

  const profileStream = generateStream({ seed: 77, events: 2_500, contacts: 250, partitions: PARTITIONS });
  const debeziumStream = generateDebeziumStream({ seed: 78, events: 1_200, customers: 120, partitions: PARTITIONS });

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: 15, taskMinMs: 150, taskMsPerRow: 0.5, taskPendingMs: 20 });
    const database = await migratedDatabase('e2e_import');
    drop = database.drop;
    db = database.client;
    await createTopics([{ topic: changes, partitions: PARTITIONS }, { topic: customers, partitions: PARTITIONS }, { topic: dlq }]);
    env = {
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${changes}:profile-change.v1,${customers}:debezium:${resolve(__dirname, '../../config/customers.mapping.json')}`,
      KAFKA_GROUP_ID: groupId,
      DLQ_TOPIC: dlq,
      CAAC_BASE_URL: sandbox.url,
      CAAC_RATE_WINDOW_MS: String(WINDOW_MS),
      CAAC_IMPORT_MAX_ROWS: String(MAX_ROWS),
      FLUSH_INTERVAL_MS: String(FLUSH_MS),
      CAAC_REQUEST_TIMEOUT_MS: '5000',
    };
  });

  afterAll(async () => {
    await service?.close();
    await sandbox?.close();
    await drop?.();
  });

  const stagedEverything = async () => {
    for (const topic of [changes, customers]) await waitUntilStaged(db, topic);
  };
  const drained = () => waitUntilImported(db);

  it('ends with CAAC holding the newest value of every field, under the API rules, in the fewest imports', async () => {
    // Stage everything first (importer off), so the backlog is known when imports start.
    service = await startService(testConfig({ ...env, IMPORTER_ENABLED: 'false' }));
    await produce(changes, profileStream.messages);
    await produce(customers, debeziumStream.messages);
    await stagedEverything();
    await service.close();

    const { rows } = await db.query(`SELECT count(*)::int AS n FROM pending_change WHERE key_type = 'customer_id'`);
    const contacts = rows[0].n as number;
    expect(contacts).toBe(profileStream.expected.size + debeziumStream.expected.size);

    service = await startService(testConfig(env));
    await drained();

    const held = await sandboxContacts(sandbox.url);
    const expected = new Map<string, Record<string, unknown>>();
    for (const [id, fields] of profileStream.expected) {
      expected.set(id, Object.fromEntries([['customer_id', id], ...Object.entries(fields).filter(([, v]) => v !== null)]));
    }
    for (const [id, contact] of debeziumStream.expected) expected.set(id, contact);
    expect(held.size).toBe(expected.size);
    for (const [id, contact] of expected) expect([id, held.get(id)]).toEqual([id, contact]);

    const log = await sandboxLog(sandbox.url);
    expect(apiRuleViolations(log, { windowMs: WINDOW_MS, perWindow: 15, maxRows: MAX_ROWS })).toEqual([]);
    const imports = log.tasks.filter((t) => t.kind === 'import');
    expect(imports).toHaveLength(Math.ceil(contacts / MAX_ROWS));
    expect(imports.every((t) => t.success)).toBe(true);

    const { rows: batches } = await db.query(`SELECT status, task_id, rows FROM import_batch ORDER BY id`);
    expect(batches.map((b: { status: string }) => b.status)).toEqual(imports.map(() => 'done'));
    expect(new Set(batches.map((b: { task_id: string }) => b.task_id))).toEqual(new Set(imports.map((t) => t.task_id)));

    const letters = await readTopic(dlq, profileStream.badCount);
    expect(letters.every((l) => l.headers['caac-sync.errors.topic'] === changes)).toBe(true);
  });

  it('makes no import request when the same unchanged contacts arrive again', async () => {
    const before = (await sandboxLog(sandbox.url)).requests.filter((r) => r.method === 'POST').length;

    await produce(changes, profileStream.messages.filter((m) => !m.bad));
    await produce(customers, debeziumStream.messages);
    await stagedEverything();
    // Past the flush interval, the importer has looked at everything the replay staged.
    await new Promise((r) => setTimeout(r, FLUSH_MS * 3));
    await drained();

    const after = (await sandboxLog(sandbox.url)).requests.filter((r) => r.method === 'POST').length;
    expect(after).toBe(before);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM pending_change`);
    expect(rows[0].n).toBe(0);
  });
});
