import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import request from 'supertest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { aProfileChange } from '../support/profile-events';
import { ALERT_RULES, DASHBOARD, RunningPrometheus, type QueryResult } from '../support/prometheus';
import { createTopics, startService, TEST_ADMIN_TOKEN, TEST_API_KEY, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

/** Grafana replaces this in every query; a minute covers enough one-second scrapes for a rate. */
const RATE_INTERVAL = '1m';
const CONTACTS = 30;

interface DashboardPanel {
  title: string;
  targets?: Array<{ expr: string }>;
}

/** The dashboard's variables as Grafana fills them here: the scrape job, and every namespace (none). */
const VARIABLES: Record<string, string> = { $__rate_interval: RATE_INTERVAL, $job: 'caac-sync', $namespace: '.*' };

interface Dashboard {
  panels: Array<DashboardPanel & { type: string; datasource?: { uid: string }; targets?: Array<{ expr: string; datasource?: { uid: string } }> }>;
  templating: { list: Array<{ name: string; type: string }> };
}

async function dashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
}

/** Every query of the dashboard, with the panel it belongs to, its variables filled in. */
async function dashboardQueries(): Promise<Array<{ panel: string; expr: string }>> {
  return (await dashboard()).panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr.replace(/\$__rate_interval|\$job|\$namespace/g, (name) => VARIABLES[name]!) })),
  );
}

describe('/metrics scraped by a real Prometheus', () => {
  let sandbox: RunningSandbox;
  let prometheus: RunningPrometheus | undefined;
  let sut: INestApplication | undefined;
  let db: Client;
  let drop: () => Promise<void>;
  const topic = uniqueName('scrape-changes');

  const samples = (result: QueryResult) => result.data?.result.length ?? 0;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: 3_000, ratePerWindow: 15, taskMinMs: 100, taskMsPerRow: 0.5, taskPendingMs: 20 });
    const database = await migratedDatabase('prometheus_scrape');
    drop = database.drop;
    db = database.client;
    const dlq = uniqueName('scrape-dlq');
    await createTopics([{ topic, partitions: 2 }, { topic: dlq }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('scrape'),
        DLQ_TOPIC: dlq,
        CAAC_BASE_URL: sandbox.url,
        CAAC_RATE_WINDOW_MS: '3000',
        FLUSH_INTERVAL_MS: '300',
      }),
    );
    const { port } = sut.getHttpServer().address() as AddressInfo;
    prometheus = await RunningPrometheus.start({ targets: [`127.0.0.1:${port}`], ruleFiles: [ALERT_RULES] });

    // Traffic for every part of the pipeline: staged events, one bad event, imports, a refused admin call.
    const events = Array.from({ length: CONTACTS }, (_, i) => ({
      partition: i % 2,
      value: JSON.stringify(aProfileChange({ key: { customer_id: `C-${i}` }, profile: { display_name: `Contact ${i}` } })),
    }));
    await produce(topic, [...events, { partition: 0, value: '{ not json' }]);
    await waitUntilStaged(db, topic);
    await waitUntilImported(db);
    // An export of what was imported, so that the export gauges (read from Postgres) have a value.
    const started = await request(sut.getHttpServer()).post('/admin/exports').set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`).send({});
    expect(started.status).toBe(202);
    await waitFor(
      'the export to be done',
      async () => {
        const job = await request(sut!.getHttpServer()).get(`/admin/exports/${started.body.id}`).set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
        return job.body.status === 'done' ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await request(sut.getHttpServer()).get('/admin/dead-letters').set('authorization', 'Bearer wrong-token-0123456789');
    // Scrapes after the traffic, so that every rate has two samples to work with.
    await waitFor(
      'Prometheus to scrape the service after the traffic',
      async () => {
        const rows = await prometheus!.query('count_over_time(caac_sync_import_rows_total[1m])');
        const exported = await prometheus!.query('caac_sync_export_newest_complete_age_seconds');
        return Number(rows.data?.result[0]?.value?.[1] ?? 0) >= 5 && samples(exported) > 0 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  afterAll(async () => {
    await prometheus?.stop();
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('parses every scrape: the target is up with samples, and the secrets are nowhere in it', async () => {
    const up = await prometheus!.query('up{job="caac-sync"}');
    const scraped = await prometheus!.query('scrape_samples_scraped{job="caac-sync"}');
    const text = (await request(sut!.getHttpServer()).get('/metrics')).text;

    expect(up.data?.result.map((sample) => sample.value?.[1])).toEqual(['1']);
    expect(Number(scraped.data?.result[0]?.value?.[1])).toBeGreaterThan(100);
    expect(text).not.toContain(TEST_API_KEY);
    expect(text).not.toContain(TEST_ADMIN_TOKEN);
  });

  it('reports the pipeline as it is: lag worked off, every contact imported, the bad event and the refused call counted', async () => {
    const value = async (expr: string) => Number((await prometheus!.query(expr)).data?.result[0]?.value?.[1]);

    await expect(value('sum(caac_sync_consumer_lag_messages)')).resolves.toBe(0);
    await expect(value('count(caac_sync_consumer_lag_messages)')).resolves.toBe(2);
    await expect(value('sum(caac_sync_pending_contacts)')).resolves.toBe(0);
    await expect(value('sum(caac_sync_import_rows_total)')).resolves.toBe(CONTACTS);
    await expect(value('sum(caac_sync_import_task_duration_seconds_count{success="true"})')).resolves.toBeGreaterThanOrEqual(1);
    await expect(value('sum(caac_sync_caac_request_duration_seconds_count{endpoint="import", status="202"})')).resolves.toBeGreaterThanOrEqual(1);
    await expect(value('sum(caac_sync_dead_letters_total{stage="decode"})')).resolves.toBe(1);
    await expect(value('caac_sync_admin_auth_failures_total')).resolves.toBe(1);
    await expect(value('min(caac_sync_health_check_up)')).resolves.toBe(1);
  });

  it('answers every dashboard query, and shows data in every panel', async () => {
    const queries = await dashboardQueries();
    const failures: Array<{ panel: string; expr: string; error?: string }> = [];
    const withData = new Set<string>();
    for (const { panel, expr } of queries) {
      const result = await prometheus!.query(expr);
      if (result.status !== 'success') failures.push({ panel, expr, error: result.error });
      else if (samples(result) > 0) withData.add(panel);
    }
    const panels = [...new Set(queries.map((query) => query.panel))];

    expect(queries.length).toBeGreaterThanOrEqual(30);
    expect(failures).toEqual([]);
    expect(panels.filter((panel) => !withData.has(panel))).toEqual([]);
  });

  it('lets the viewer pick the data source, the job and the namespace, and scopes every query to them', async () => {
    const { panels, templating } = await dashboard();
    const queries = panels.flatMap((panel) => panel.targets ?? []);

    expect(templating.list.map((variable) => [variable.name, variable.type])).toEqual([
      ['datasource', 'datasource'],
      ['job', 'query'],
      ['namespace', 'query'],
    ]);
    expect(panels.filter((panel) => panel.type !== 'row' && panel.datasource?.uid !== '${datasource}').map((panel) => panel.title)).toEqual([]);
    const unscoped = (expr: string) => (expr.match(/caac_sync_\w+/g) ?? []).length !== (expr.match(/caac_sync_\w+\{job=~"\$job", namespace=~"\$namespace"/g) ?? []).length;
    expect(queries.filter((query) => query.datasource?.uid !== '${datasource}' || unscoped(query.expr)).map((query) => query.expr)).toEqual([]);
    expect(panels.filter((panel) => panel.type === 'row').map((panel) => panel.title)).toEqual(
      expect.arrayContaining(['Importer refusals', 'Exports', 'Drift (CAAC differs from what was sent)']),
    );
  });

  it('evaluates every alert rule without error, over metrics the service exports', async () => {
    const rules = await waitFor('every rule evaluated', async () => {
      const all = await prometheus!.rules();
      return all.length > 0 && all.every((rule) => rule.health !== 'unknown') ? all : undefined;
    });
    const unhealthy = rules.filter((rule) => rule.health !== 'ok').map((rule) => ({ name: rule.name, error: rule.lastError }));
    const errors = [];
    const missing = [];
    for (const rule of rules) {
      const result = await prometheus!.query(rule.query);
      if (result.status !== 'success') errors.push({ name: rule.name, error: result.error });
      for (const [name] of rule.query.matchAll(/\b(caac_sync_\w+|up)\b/g)) {
        if (samples(await prometheus!.query(`count(${name === 'up' ? 'up{job="caac-sync"}' : name})`)) === 0) missing.push({ rule: rule.name, metric: name });
      }
    }

    expect(rules).toHaveLength(19);
    expect(unhealthy).toEqual([]);
    expect(errors).toEqual([]);
    expect(missing).toEqual([]);
  });
});
