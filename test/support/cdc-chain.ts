/**
 * The real CDC chain for tests: a Kafka Connect worker with the Debezium Postgres connector
 * (docker/connect.sh) on a test's own CRM database, with names no other run uses (connector, slot,
 * publication, topic prefix, REST port, worker state), and the topic helpers the chain needs.
 */
import { execFile } from 'node:child_process';
import { freePort } from './free-port';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { testKafka } from './service';
import { waitFor } from './wait-for';

const run = promisify(execFile);
const CONNECT_SCRIPT = resolve(__dirname, '../../docker/connect.sh');
export const CONNECT_START_TIMEOUT_MS = 180_000; // the very first start fetches Connect and Debezium
const CONNECT_START_TIMEOUT_S = 90; // the script's own bound on start and resnapshot waits
const CONNECT_COMMAND_TIMEOUT_MS = 60_000;
const TOPIC_TIMEOUT_MS = 30_000;

export type ConnectCommand = 'start' | 'stop' | 'status' | 'resnapshot' | 'reset';

export interface CdcConnector {
  /** The connector's name, also naming its worker's state folder through the port. */
  name: string;
  topicPrefix: string;
  /** The topic of public.customers: `<prefix>.public.customers`. */
  topic: string;
  slot: string;
  publication: string;
  /** Runs `docker/connect.sh <command>` for this connector; fails with the script's message. */
  run(command: ConnectCommand, timeoutMs?: number): Promise<void>;
  /**
   * Stops the worker, drops the slot and the publication, removes the worker's state. Safe after a
   * failed or missing start. TRICKY: Postgres keeps WAL for a slot forever, and a slot blocks
   * dropping its database, so this goes before the CRM database is dropped.
   */
  reset(): Promise<void>;
}

/**
 * A connector on `databaseUrl`'s public.customers with names unique to this run; `label` (a-z, 0-9,
 * _) tells runs apart in the names. Nothing runs until `run('start')`.
 */
export async function cdcConnector(options: {
  databaseUrl: string;
  label: string;
  schemas?: boolean;
  snapshotMode?: string;
  /** `avro`: Apicurio's Avro converter, registering in the registry at `registryUrl` (its v2 API). */
  valueFormat?: 'json' | 'avro';
  registryUrl?: string;
}): Promise<CdcConnector> {
  const suffix = `${options.label}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const topicPrefix = `cdctest_${suffix}`;
  const slot = `cdc_test_${suffix}`;
  const name = `cdc-test-${suffix}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CRM_DATABASE_URL: options.databaseUrl,
    CDC_TOPIC_PREFIX: topicPrefix,
    CDC_SLOT: slot,
    CDC_PUBLICATION: slot,
    CDC_SCHEMAS_ENABLE: String(options.schemas ?? false),
    CDC_SNAPSHOT_MODE: options.snapshotMode ?? 'initial',
    CDC_VALUE_FORMAT: options.valueFormat ?? 'json',
    ...(options.registryUrl ? { CDC_SCHEMA_REGISTRY_URL: options.registryUrl } : {}),
    CONNECT_NAME: name,
    CONNECT_PORT: String(await freePort()),
    CONNECT_KAFKA_BROKERS: process.env.TEST_KAFKA_BROKERS ?? '',
    CONNECT_START_TIMEOUT_S: String(CONNECT_START_TIMEOUT_S),
  };
  let started = false;

  const connector: CdcConnector = {
    name,
    topicPrefix,
    topic: `${topicPrefix}.public.customers`,
    slot,
    publication: slot,
    async run(command, timeoutMs = command === 'start' ? CONNECT_START_TIMEOUT_MS : CONNECT_COMMAND_TIMEOUT_MS) {
      if (command === 'start') started = true; // even a failed start may leave a slot to drop
      try {
        await run('bash', [CONNECT_SCRIPT, command], { env, timeout: timeoutMs });
      } catch (error) {
        const { stderr, message } = error as { stderr?: string; message: string };
        throw new Error(`docker/connect.sh ${command} failed: ${stderr || message}`);
      }
    },
    async reset() {
      if (started) await connector.run('reset');
    },
  };
  return connector;
}

/**
 * Waits until `topic` exists with a leader for every partition. TRICKY: the connector is RUNNING
 * before its first event creates the topic, and subscribing to a topic that is not there yet fails.
 */
export async function waitForTopic(topic: string, timeoutMs = TOPIC_TIMEOUT_MS): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await waitFor(
      `topic ${topic}`,
      async () => {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        return topics[0]?.partitions.every((p) => p.leader >= 0) ? true : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } finally {
    await admin.disconnect();
  }
}

/** Deletes the topics that exist; a missing one is not an error (cleanup after a failed start). */
export async function deleteTopics(topics: string[]): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const doomed = topics.filter((topic) => existing.has(topic));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}
