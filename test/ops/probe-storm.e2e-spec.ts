import { Client } from 'pg';
import { PROBE_POOL_MAX } from '../../src/ops/probe-data-source';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { expectStagedAsModel, waitUntilStaged } from '../support/pipeline';
import { generateStream } from '../support/profile-events';
import { createTopics, uniqueName } from '../support/service';
import { ServiceProcess } from '../support/service-process';

const PARTITIONS = 3;
/** Requests of one storm, half /metrics and half /health/ready, all sent at once. */
const STORM_REQUESTS = 200;
const STORMS = 4;

describe('probes under a storm of requests while ingesting', () => {
  let db: Client;
  let url: string;
  let drop: () => Promise<void>;
  let service: ServiceProcess;
  const topic = uniqueName('storm.profile-changes');
  const dlqTopic = uniqueName('storm.dlq');

  beforeAll(async () => {
    const database = await migratedDatabase('probe_storm');
    drop = database.drop;
    db = database.client;
    url = database.url;
    await createTopics([{ topic, partitions: PARTITIONS }, { topic: dlqTopic }]);
    service = new ServiceProcess({
      DATABASE_URL: database.url,
      // The smallest pipeline pool there is: a probe taking one of its connections would show.
      DATABASE_POOL_MAX: '2',
      SOURCE_TOPICS: `${topic}:profile-change.v1`,
      KAFKA_GROUP_ID: uniqueName('storm'),
      DLQ_TOPIC: dlqTopic,
      CAAC_BASE_URL: 'http://127.0.0.1:9',
      IMPORTER_ENABLED: 'false', // this test is about ingest and the probes
      INGEST_MAX_BYTES_PER_PARTITION: '16384', // many small batches, many transactions
    });
    await service.start();
  });

  afterAll(async () => {
    await service?.stop();
    await drop?.();
  });

  async function storm(): Promise<{ statuses: Record<string, number>; probeConnections: number }> {
    const statuses: Record<string, number> = {};
    let probeConnections = 0;
    const requests = Array.from({ length: STORM_REQUESTS }, async (_, i) => {
      const path = i % 2 === 0 ? '/metrics' : '/health/ready';
      const response = await fetch(service.url(path));
      await response.arrayBuffer();
      const key = `${path} ${response.status}`;
      statuses[key] = (statuses[key] ?? 0) + 1;
    });
    // While the storm is on: how many connections the probes hold.
    const watch = (async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'caac-sync-probe'`);
      probeConnections = rows[0].n;
    })();
    await Promise.all([...requests, watch]);
    return { statuses, probeConnections };
  }

  it('keeps staging every event, answers every probe, and logs no pool timeout, even while a probe query is slow', async () => {
    const stream = generateStream({ seed: 2323, events: 8_000, contacts: 500, partitions: PARTITIONS });
    const chunk = Math.ceil(stream.messages.length / STORMS);
    // TRICKY: a table the metrics read and ingest never touches, locked: every probe read of it
    // waits. On the pipeline's pool those waits held its connections until ingest timed out.
    const locker = new Client({ connectionString: url });
    await locker.connect();
    await locker.query(`BEGIN; LOCK TABLE import_batch IN ACCESS EXCLUSIVE MODE`);

    const storms = [];
    try {
      for (let i = 0; i < STORMS; i++) {
        const [, result] = await Promise.all([produce(topic, stream.messages.slice(i * chunk, (i + 1) * chunk)), storm()]);
        storms.push(result);
      }
      await waitUntilStaged(db, topic, 60_000);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }

    await expectStagedAsModel(db, stream);
    for (const { statuses, probeConnections } of storms) {
      expect(statuses).toEqual({ '/metrics 200': STORM_REQUESTS / 2, '/health/ready 200': STORM_REQUESTS / 2 });
      expect(probeConnections).toBeLessThanOrEqual(PROBE_POOL_MAX);
    }
    const metrics = await (await fetch(service.url('/metrics'))).text();
    expect(metrics).toMatch(/^caac_sync_ingest_batch_retries_total 0$/m);
    expect(service.logs()).not.toMatch(/could not stage batch|timeout exceeded when trying to connect/i);
  });
});
