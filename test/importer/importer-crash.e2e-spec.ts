import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { generateStream, seededRandom } from '../support/profile-events';
import { apiRuleViolations, sandboxContacts, sandboxLog } from '../support/sandbox-client';
import { createTopics, uniqueName } from '../support/service';
import { ServiceProcess } from '../support/service-process';
import { waitFor } from '../support/wait-for';

const WINDOW_MS = 2_000;
const MAX_ROWS = 30;

async function role(service: ServiceProcess): Promise<string | undefined> {
  const response = await fetch(service.url('/health/ready')).catch(() => undefined);
  if (!response) return undefined;
  const body = (await response.json()) as { details?: { importer?: { role?: string } } };
  return body.details?.importer?.role;
}

describe('the importer under SIGKILL', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];
  const topic = uniqueName('icrash.profile-changes');

  beforeAll(async () => {
    // Tasks long enough that kills land while claiming, between acceptance and the stored task_id, and while polling.
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: 15, taskMinMs: 250, taskMsPerRow: 5, taskPendingMs: 50 });
    const database = await migratedDatabase('importer_crash');
    drop = database.drop;
    db = database.client;
    await createTopics([{ topic, partitions: 2 }]);
    env = {
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('icrash'),
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      DLQ_TOPIC: uniqueName('icrash.dlq'),
      CAAC_BASE_URL: sandbox.url,
      CAAC_RATE_WINDOW_MS: String(WINDOW_MS),
      CAAC_IMPORT_MAX_ROWS: String(MAX_ROWS),
      CAAC_REQUEST_TIMEOUT_MS: '2000',
      FLUSH_INTERVAL_MS: '200',
    };
  });

  afterAll(async () => {
    for (const service of services) await service.kill();
    await sandbox?.close();
    await drop?.();
  });

  async function converged(expected: Map<string, Record<string, unknown>>): Promise<void> {
    await waitFor(
      'every change imported',
      async () => {
        const { rows } = await db.query(
          `SELECT (SELECT count(*) FROM pending_change)::int AS pending,
                  (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed'))::int AS open`,
        );
        if (rows[0].pending !== 0 || rows[0].open !== 0) return undefined;
        const held = await sandboxContacts(sandbox.url);
        return [...expected.keys()].every((id) => held.has(id)) ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 300 },
    );
    const held = await sandboxContacts(sandbox.url);
    for (const [id, fields] of expected) {
      const contact = Object.fromEntries([['customer_id', id], ...Object.entries(fields).filter(([, v]) => v !== null)]);
      expect([id, held.get(id)]).toEqual([id, contact]);
    }
    expect(apiRuleViolations(await sandboxLog(sandbox.url), { windowMs: WINDOW_MS, perWindow: 15, maxRows: MAX_ROWS })).toEqual([]);
  }

  it('reaches the reference state with no lost change and no stale overwrite when killed while importing', async () => {
    const stream = generateStream({ seed: 31, events: 1_500, contacts: 150, partitions: 2, badRate: 0 });
    const random = seededRandom(31);
    const service = new ServiceProcess(env);
    services.push(service);
    await service.start();

    const chunks = 6;
    const size = Math.ceil(stream.messages.length / chunks);
    for (let i = 0; i < chunks; i++) {
      await produce(topic, stream.messages.slice(i * size, (i + 1) * size));
      // Kill at a random moment of the import cycle (claim, submit, poll), then come back.
      await new Promise((r) => setTimeout(r, 200 + Math.floor(random() * 1_200)));
      await service.kill();
      await service.start();
    }

    await converged(stream.expected);
    // Nothing ended as failed: every interrupted batch was resumed or sent again.
    const { rows: failed } = await db.query(`SELECT count(*)::int AS n FROM import_batch WHERE status = 'failed'`);
    expect(failed[0].n).toBe(0);
  });

  it('hands the importer to the standby within seconds when the leader is killed, never running two imports at once', async () => {
    const [leader] = services;
    const standby = new ServiceProcess(env);
    services.push(standby);
    await standby.start();
    await waitFor('roles settled', async () => ((await role(leader!)) === 'leader' && (await role(standby)) === 'standby' ? true : undefined), {
      timeoutMs: 15_000,
    });

    const stream = generateStream({ seed: 32, events: 800, contacts: 120, partitions: 2, badRate: 0 });
    const renamed = stream.messages.map((m) => ({ ...m, value: Buffer.from(m.value.toString().replace(/"C-/g, '"S-')) }));
    await produce(topic, renamed);
    await new Promise((r) => setTimeout(r, 700));
    await leader!.kill();
    const killedAt = Date.now();

    await waitFor('the standby to lead', async () => ((await role(standby)) === 'leader' ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    expect(Date.now() - killedAt).toBeLessThan(10_000);

    const expected = new Map([...stream.expected].map(([id, fields]) => [id.replace(/^C-/, 'S-'), fields]));
    await converged(expected);
  });
});
