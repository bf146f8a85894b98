import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { produce, readTopic } from '../support/kafka-io';
import { generateStream } from '../support/profile-events';
import { apiRuleViolations, sandboxContacts, sandboxLog, setFaults } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

const WINDOW_MS = 3_000;
const MAX_ROWS = 40;
const REJECTED = 'C-00007';

describe('importing through CAAC faults', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let service: INestApplication;
  const topic = uniqueName('faults.profile-changes');
  const dlq = uniqueName('faults.dlq');
  const stream = generateStream({ seed: 99, events: 1_500, contacts: 200, partitions: 2, badRate: 0 });

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: 15, taskMinMs: 100, taskMsPerRow: 1, taskPendingMs: 20, seed: 5 });
    const database = await migratedDatabase('importer_faults');
    drop = database.drop;
    db = database.client;
    await createTopics([{ topic, partitions: 2 }, { topic: dlq }]);
    service = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('faults'),
        DLQ_TOPIC: dlq,
        CAAC_BASE_URL: sandbox.url,
        CAAC_RATE_WINDOW_MS: String(WINDOW_MS),
        CAAC_IMPORT_MAX_ROWS: String(MAX_ROWS),
        CAAC_REQUEST_TIMEOUT_MS: '1500',
        CAAC_BREAKER_RESET_MS: '1500',
        FLUSH_INTERVAL_MS: '300',
      }),
    );
  });

  afterAll(async () => {
    await service?.close();
    await sandbox?.close();
    await drop?.();
  });

  const breaker = async () =>
    (await request(service.getHttpServer()).get('/health/ready')).body?.details?.importer?.breaker as string | undefined;

  it('converges to the reference state, keeps the API rules, opens and closes the breaker, and dead-letters only rejected rows', async () => {
    // First a 429 storm: every import request is refused while it lasts.
    await setFaults(sandbox.url, { storm_429: { rate: 1, until_ms: 3_000 } });
    await produce(topic, stream.messages.slice(0, 300));
    await waitFor('a 429', async () => ((await sandboxLog(sandbox.url)).requests.some((r) => r.status === 429) ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 100,
    });

    // Then an outage: every import fails with 5xx until the breaker opens.
    await setFaults(sandbox.url, { error_rate: { import: 1 } });
    await waitFor('the breaker to open', async () => ((await breaker()) === 'open' ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });

    // Then a flaky CAAC: 5xx, hangs, failed tasks with and without row errors, and one contact
    // whose rows CAAC rejects.
    await setFaults(sandbox.url, {
      error_rate: { import: 0.2, import_status: 0.2 },
      hang_rate: { import: 0.05 },
      task_failure_rate: 0.2,
      task_failure_with_errors: true,
      row_rules: [{ field: 'customer_id', equals: REJECTED, reason: 'blocked by CAAC' }],
      seed: 11,
    });
    await produce(topic, stream.messages.slice(300));
    await waitFor('the breaker to close', async () => ((await breaker()) === 'closed' ? true : undefined), { timeoutMs: 90_000, intervalMs: 100 });

    await waitFor(
      'every change imported',
      async () => {
        const { rows } = await db.query(
          `SELECT (SELECT count(*) FROM pending_change)::int AS pending,
                  (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed'))::int AS open,
                  (SELECT coalesce(sum(next_offset), 0)::int FROM consumer_offset) AS consumed`,
        );
        return rows[0].pending === 0 && rows[0].open === 0 && rows[0].consumed === stream.messages.length ? true : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 250 },
    );

    const held = await sandboxContacts(sandbox.url);
    for (const [id, fields] of stream.expected) {
      if (id === REJECTED) continue;
      const expected = Object.fromEntries([['customer_id', id], ...Object.entries(fields).filter(([, v]) => v !== null)]);
      expect([id, held.get(id)]).toEqual([id, expected]);
    }
    expect(held.has(REJECTED)).toBe(false);

    const log = await sandboxLog(sandbox.url);
    expect(apiRuleViolations(log, { windowMs: WINDOW_MS, perWindow: 15, maxRows: MAX_ROWS })).toEqual([]);
    expect(log.tasks.some((t) => t.kind === 'import' && t.success === false)).toBe(true);

    // Only the permanently rejected contact is dead-lettered, with the task that rejected it.
    const { rows: outbox } = await db.query(`SELECT message_key::text AS key, headers FROM dead_letter_outbox`);
    expect(new Set(outbox.map((row: { key: string }) => Buffer.from(row.key.replace(/^\\x/, ''), 'hex').toString()))).toEqual(
      new Set([`customer_id:${REJECTED}`]),
    );
    const letters = await readTopic(dlq, outbox.length);
    for (const letter of letters) {
      expect(letter.key?.toString()).toBe(`customer_id:${REJECTED}`);
      expect(letter.headers).toMatchObject({
        'caac-sync.errors.stage': 'import',
        'caac-sync.errors.class': 'RowRejected',
        'caac-sync.errors.message': 'customer_id: blocked by CAAC',
        'caac-sync.errors.task_id': expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
      expect(JSON.parse(letter.value!.toString())).toMatchObject({ key: { customer_id: REJECTED } });
    }
  });
});
