import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { runCli } from '../support/cli-process';
import { migratedDatabase } from '../support/database';
import { highWatermarks } from '../support/kafka-io';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { sandboxContacts, sandboxLog } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

const ROWS = 50_000;
const TIERS = ['gold', 'silver', 'bronze'];
/** Data lines (the header is line 1) that the service would refuse, and why. */
const BAD_LINES = new Map([
  [101, ['not-an-e-mail', 'profile.display_email: is not an e-mail address']],
  [25_002, ['', 'customer_id: the import key is empty']],
  [50_001, ['also bad', 'profile.display_email: is not an e-mail address']],
]);

/** A CRM export of ROWS customers; the expected CAAC contact of every good row. */
function aCrmExport(file: string): Map<string, Record<string, unknown>> {
  const expected = new Map<string, Record<string, unknown>>();
  const lines = ['customer_id,full_name,email,tier,updated_at'];
  for (let i = 1; i <= ROWS; i++) {
    const line = i + 1;
    const id = `BF-${String(i).padStart(6, '0')}`;
    const bad = BAD_LINES.get(line);
    const email = bad && bad[0] !== '' ? bad[0] : `Customer.${i}@Example.com`;
    const tier = TIERS[i % TIERS.length]!;
    lines.push([bad?.[0] === '' ? '' : id, `"Customer ${i}, Jr."`, email, tier, '2026-11-30T08:00:00Z'].join(','));
    if (!bad) expected.set(id, { customer_id: id, full_name: `Customer ${i}, Jr.`, display_email: `customer.${i}@example.com`, cl_custom_tier: tier });
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return expected;
}

describe('npm run cli -- backfill', () => {
  const topic = uniqueName('backfill.profile-changes');
  const dir = mkdtempSync(join(tmpdir(), 'caac-backfill-'));
  const csv = join(dir, 'customers.csv');
  const mapping = join(dir, 'customers.backfill.json');
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let service: INestApplication | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 50, taskMsPerRow: 0.01, taskPendingMs: 10 });
    const database = await migratedDatabase('cli_backfill');
    ({ client: db, drop } = database);
    await createTopics([{ topic, partitions: 3 }]);
    writeFileSync(
      mapping,
      JSON.stringify({
        key: { column: 'customer_id', type: 'customer_id' },
        occurred_at: 'updated_at',
        fields: { customer_id: 'customer_id', full_name: 'full_name', email: 'display_email', tier: 'custom.tier' },
      }),
    );
    env = {
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('backfill'),
      DLQ_TOPIC: uniqueName('backfill.dlq'),
      CAAC_BASE_URL: sandbox.url,
      FLUSH_INTERVAL_MS: '500',
    };
  });

  afterAll(async () => {
    await service?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('publishes 50,000 CRM rows that end in CAAC as expected, lists the bad rows by line, and a second run imports nothing', async () => {
    const expected = aCrmExport(csv);
    service = await startService(testConfig(env));

    const run = await runCli(['backfill', csv, '--mapping', mapping], env, 300_000);

    expect(run.code).toBe(2); // done, some rows refused
    expect(run.stdout.trim()).toBe(`${ROWS} rows: published ${ROWS - BAD_LINES.size} to ${topic}, refused ${BAD_LINES.size}`);
    expect(run.stderr.trim().split('\n')).toEqual([...BAD_LINES].map(([line, [, reason]]) => `line ${line}: ${reason}`));
    const published = [...(await highWatermarks(topic)).values()].reduce((sum, high) => sum + high, 0n);
    expect(published).toBe(BigInt(ROWS - BAD_LINES.size));

    await waitUntilStaged(db, topic, 180_000);
    await waitUntilImported(db, 240_000);
    const held = await sandboxContacts(sandbox.url);
    expect(held.size).toBe(expected.size);
    for (const [id, contact] of expected) expect([id, held.get(id)]).toEqual([id, contact]);

    // The same file again: the same event ids and values, so nothing new reaches CAAC.
    const importsBefore = (await sandboxLog(sandbox.url)).tasks.filter((task) => task.kind === 'import').length;
    const again = await runCli(['backfill', csv, '--mapping', mapping], env, 300_000);
    expect(again.code).toBe(2);
    await waitUntilStaged(db, topic, 180_000);
    await new Promise((wait) => setTimeout(wait, 1_500)); // three flush intervals: the importer has looked
    await waitUntilImported(db, 60_000);
    expect((await sandboxLog(sandbox.url)).tasks.filter((task) => task.kind === 'import')).toHaveLength(importsBefore);
  }, 600_000);
});
