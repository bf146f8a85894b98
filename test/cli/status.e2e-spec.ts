import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { runCli } from '../support/cli-process';
import { migratedDatabase } from '../support/database';
import { withAdmin } from '../support/infrastructure';
import { produce } from '../support/kafka-io';
import { waitUntilStaged } from '../support/pipeline';
import { aProfileChange } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

describe('npm run cli -- status', () => {
  const topic = uniqueName('status.profile-changes');
  let db: Client;
  let drop: () => Promise<void>;
  let service: INestApplication | undefined;
  let env: Record<string, string>;
  let url: string;

  beforeAll(async () => {
    const database = await migratedDatabase('cli_status');
    ({ client: db, drop } = database);
    await createTopics([{ topic, partitions: 2 }]);
    env = {
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('status'),
      DLQ_TOPIC: uniqueName('status.dlq'),
      IMPORTER_ENABLED: 'false',
    };
    service = await startService(testConfig(env));
    url = `http://127.0.0.1:${(service.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await service?.close();
    await drop?.();
  });

  it('reports the backlog by key type, the lag per partition and the importer of a running service', async () => {
    await produce(topic, [
      ...['S-1', 'S-2', 'S-3'].map((id) => ({ partition: 0, key: id, value: JSON.stringify(aProfileChange({ key: { customer_id: id } })) })),
      { partition: 1, key: 'a@example.com', value: JSON.stringify(aProfileChange({ key: { display_email: 'a@example.com' } })) },
    ]);
    await waitUntilStaged(db, topic);
    // The Kafka commit follows the database commit: wait until the broker has it too.
    const report = await waitFor(
      'the commits behind the staged batches',
      async () => {
        const run = await runCli(['status', '--url', url, '--json'], env);
        if (run.code !== 0) throw new Error(run.stderr);
        const parsed = JSON.parse(run.stdout);
        return parsed.lag.every((p: { lag: number }) => p.lag === 0) ? parsed : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    expect(report).toMatchObject({
      service: url,
      ready: true,
      lag: [
        { topic, partition: 0, lag: 0 },
        { topic, partition: 1, lag: 0 },
      ],
      importer: { role: 'disabled', inFlight: null },
      imports: [],
      lastExport: null,
      warnings: [],
    });
    expect(report.backlog.filter((entry: { pending_contacts: number }) => entry.pending_contacts > 0)).toEqual([
      { key_type: 'display_email', pending_contacts: 1, oldest_age_ms: expect.any(Number) },
      { key_type: 'customer_id', pending_contacts: 3, oldest_age_ms: expect.any(Number) },
    ]);
  });

  it('prints the same for a terminal', async () => {
    const run = await runCli(['status', '--url', url], env);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^service   ${url}  ready\nbacklog   display_email: 1 \\(oldest \\d+ s\\), customer_id: 3 \\(oldest \\d+ s\\)\nlag       ${topic}: 0\nimporter  disabled; in flight: none\nimports   none yet\nexport    none\n$`));
  });

  it("warns about an inactive replication slot of the CDC connector, which keeps the CRM database's WAL", async () => {
    const slot = uniqueName('caac_sync_test_slot').replace(/[^a-z0-9_]/g, '_');
    const crm = process.env.TEST_ADMIN_DATABASE_URL!;
    await withAdmin(crm, async (client) => {
      await client.query(`SET statement_timeout = 20000`); // a logical slot waits for running transactions
      await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    });
    try {
      const run = await runCli(['status', '--url', url, '--json', '--crm-database-url', crm, '--cdc-slot', slot], env);

      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout).warnings).toEqual([
        expect.stringMatching(new RegExp(`^the CDC replication slot ${slot} is inactive and holds \\d+ MiB of WAL on the CRM database, more every minute: start the connector, or drop the slot \\(docker/connect.sh reset\\)$`)),
      ]);
    } finally {
      await withAdmin(crm, (client) => client.query(`SELECT pg_drop_replication_slot($1)`, [slot]));
    }
    const gone = await runCli(['status', '--url', url, '--json', '--crm-database-url', crm, '--cdc-slot', slot], env);
    expect(JSON.parse(gone.stdout).warnings).toEqual([]);
  });

  it('fails with a clear line when the service refuses the admin token', async () => {
    const run = await runCli(['status', '--url', url], { ...env, ADMIN_TOKEN: 'another-token-0123456789' });

    expect([run.code, run.stdout, run.stderr.trim()]).toEqual([1, '', `caac-sync: ${url} refused ADMIN_TOKEN (401): is this the service of this environment?`]);
  });
});
