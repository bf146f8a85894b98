import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { Client } from 'pg';

const run = promisify(execFile);
const REPO = resolve(__dirname, '../..');
const LOCAL_KAFKA = '127.0.0.1:9092';
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
const DOCKER_PROBE_TIMEOUT_MS = 3_000;
const KAFKA_START_TIMEOUT_MS = 240_000; // first start downloads the broker's jars

/** Where the tests' infrastructure came from, so teardown undoes only what setup did. */
export interface TestInfrastructure {
  kafkaBrokers: string;
  adminDatabaseUrl: string;
  databaseUrl: string;
  databaseName: string;
  stop: Array<() => Promise<void>>;
}

async function dockerAnswers(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: DOCKER_PROBE_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}

/**
 * Kafka: KAFKA_BROKERS wins; else Testcontainers where a Docker engine answers; else the local
 * broker from Maven jars (docker/kafka.sh, idempotent). Postgres: DATABASE_URL's server wins; else
 * Testcontainers; else the machine's own Postgres on 127.0.0.1:5432. Every run gets a fresh database.
 */
export async function obtainInfrastructure(): Promise<TestInfrastructure> {
  const stop: TestInfrastructure['stop'] = [];
  const docker = !process.env.KAFKA_BROKERS || !process.env.DATABASE_URL ? await dockerAnswers() : false;

  let kafkaBrokers = process.env.KAFKA_BROKERS;
  if (!kafkaBrokers && docker) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const container = await new KafkaContainer('confluentinc/cp-kafka:8.0.0').start(); // Kafka 4.0, KRaft
    kafkaBrokers = `${container.getHost()}:${container.getMappedPort(9093)}`;
    stop.push(async () => void (await container.stop()));
  }
  if (!kafkaBrokers) {
    await run('bash', [resolve(REPO, 'docker/kafka.sh'), 'start'], { timeout: KAFKA_START_TIMEOUT_MS });
    kafkaBrokers = LOCAL_KAFKA;
  }

  let adminDatabaseUrl = process.env.DATABASE_URL;
  if (!adminDatabaseUrl && docker) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    adminDatabaseUrl = container.getConnectionUri();
    stop.push(async () => void (await container.stop()));
  }
  adminDatabaseUrl ??= LOCAL_POSTGRES;

  const databaseName = `caac_sync_test_${Date.now()}_${process.pid}`;
  await withAdmin(adminDatabaseUrl, (client) => client.query(`CREATE DATABASE "${databaseName}"`));
  const databaseUrl = replaceDatabase(adminDatabaseUrl, databaseName);
  stop.unshift(async () => {
    await withAdmin(adminDatabaseUrl!, (client) => client.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`));
  });
  return { kafkaBrokers, adminDatabaseUrl, databaseUrl, databaseName, stop };
}

export function replaceDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function withAdmin<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
