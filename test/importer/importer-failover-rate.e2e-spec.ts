import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { aProfileChange } from '../support/profile-events';
import { apiRuleViolations, sandboxContacts, sandboxLog, type SandboxRequest } from '../support/sandbox-client';
import { createTopics, uniqueName } from '../support/service';
import { ServiceProcess } from '../support/service-process';
import { waitFor } from '../support/wait-for';

/** The Profile API's real limit: 15 import requests in any rolling 60 s. */
const WINDOW_MS = 60_000;
const PER_WINDOW = 15;
const MAX_ROWS = 10_000;
/** 17 full imports: the leader fills a whole window with 15, the standby must send the rest. */
const CONTACTS = 17 * MAX_ROWS;
const PARTITIONS = 4;

const isImport = (request: SandboxRequest): boolean => request.method === 'POST' && request.path.endsWith('/member/import');

async function role(service: ServiceProcess): Promise<string | undefined> {
  const response = await fetch(service.url('/health/ready')).catch(() => undefined);
  if (!response) return undefined;
  const body = (await response.json()) as { details?: { importer?: { role?: string } } };
  return body.details?.importer?.role;
}

/**
 * Invariant 6 across fail-over, at the API's real rate: the standby that takes over right after the
 * leader's 15th import request of a minute must wait for that minute to pass, although its own
 * token bucket has never sent anything. A scaled-down window cannot show this: there, fail-over
 * takes longer than the window.
 */
describe('importer fail-over at the real rate limit', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let databaseUrl: string;
  const services: ServiceProcess[] = [];
  const topic = uniqueName('irate.profile-changes');

  beforeAll(async () => {
    // Tasks far shorter than an import interval (4.09 s), so the rate, not task time, paces imports.
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: PER_WINDOW, maxRows: MAX_ROWS, taskMinMs: 200, taskMsPerRow: 0.01, taskPendingMs: 50 });
    const database = await migratedDatabase('importer_failover_rate');
    drop = database.drop;
    db = database.client;
    databaseUrl = database.url;
    await createTopics([{ topic, partitions: PARTITIONS }]);
  });

  afterAll(async () => {
    for (const service of services) await service.kill();
    await sandbox?.close();
    await drop?.();
  });

  it('never sends more than 15 import requests in a rolling minute when the leader is killed right after the 15th', async () => {
    const env = {
      DATABASE_URL: databaseUrl,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('irate'),
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      DLQ_TOPIC: uniqueName('irate.dlq'),
      CAAC_BASE_URL: sandbox.url,
      FLUSH_INTERVAL_MS: '5000',
    };
    const leader = new ServiceProcess(env);
    const standby = new ServiceProcess(env);
    services.push(leader, standby);
    await leader.start();
    await waitFor('the first instance to lead', async () => ((await role(leader)) === 'leader' ? true : undefined), { timeoutMs: 15_000 });
    await standby.start();

    const expected = new Map<string, Record<string, unknown>>();
    const messages = [];
    for (let i = 0; i < CONTACTS; i++) {
      const id = `R-${String(i).padStart(6, '0')}`;
      const profile = { display_name: `Member ${i}`, custom: { points: i % 1_000 } };
      expected.set(id, { customer_id: id, display_name: profile.display_name, cl_custom_points: profile.custom.points });
      messages.push({ partition: i % PARTITIONS, key: id, value: JSON.stringify(aProfileChange({ key: { customer_id: id }, profile })) });
    }
    await produce(topic, messages);

    // Kill the leader right after the import request that fills a rolling minute to the limit.
    const filled = await waitFor(
      `${PER_WINDOW} import requests within one minute`,
      async () => {
        const posts = (await sandboxLog(sandbox.url)).requests.filter(isImport);
        const last = posts.at(-1);
        if (!last || last.status === 0) return undefined;
        const inWindow = posts.filter((post) => Date.parse(post.at) > Date.parse(last.at) - WINDOW_MS);
        return inWindow.length >= PER_WINDOW ? posts.length : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 20 },
    );
    await leader.kill();

    await waitFor('the standby to lead', async () => ((await role(standby)) === 'leader' ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    await waitFor(
      'every contact imported',
      async () => {
        const { rows } = await db.query(
          `SELECT (SELECT count(*) FROM pending_change)::int AS pending,
                  (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed'))::int AS open`,
        );
        return rows[0].pending === 0 && rows[0].open === 0 ? true : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );

    const log = await sandboxLog(sandbox.url);
    const posts = log.requests.filter(isImport);
    expect(posts.length).toBeGreaterThan(filled); // the standby did import after the kill
    expect(apiRuleViolations(log, { windowMs: WINDOW_MS, perWindow: PER_WINDOW, maxRows: MAX_ROWS })).toEqual([]);
    expect(posts.filter((post) => post.status === 429)).toEqual([]);
    const held = await sandboxContacts(sandbox.url);
    const wrong = [...expected].filter(([id, contact]) => Object.entries(contact).some(([field, value]) => held.get(id)?.[field] !== value));
    expect({ held: held.size, wrong: wrong.slice(0, 3) }).toEqual({ held: CONTACTS, wrong: [] });
  }, 480_000);
});
