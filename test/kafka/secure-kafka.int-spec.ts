import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { createLogger } from '../../src/common/logger';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import { KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { migratedDatabase } from '../support/database';
import { aProfileChange } from '../support/profile-events';
import { ServiceProcess } from '../support/service-process';
import { TEST_ADMIN_TOKEN, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

const run = promisify(execFile);
const KAFKA_SH = resolve(__dirname, '../../docker/kafka.sh');
const BROKER_START_TIMEOUT_MS = 240_000; // first start copies the broker's jars and makes the CA

// Secrets this test hands the service; none may reach its output at the most verbose log level.
const API_KEY = 'ck_test_SECRET-api-key-7f3a91c2';
const SASL_PASSWORD_SENTINEL = 'sasl.env';

/**
 * A broker of this test's own, with a SASL_SSL listener next to the plaintext one: the shared
 * broker of the other tests is never restarted with other listeners.
 */
class SecureBroker {
  readonly port = 19_100 + 4 * Math.floor(Math.random() * 200);
  readonly saslPort = this.port + 2;
  private dir = '';

  async start(): Promise<Record<string, string>> {
    this.dir = await mkdtemp(join(tmpdir(), 'caac-sync-sasl-'));
    await run('bash', [KAFKA_SH, 'start'], { env: this.env(), timeout: BROKER_START_TIMEOUT_MS });
    const credentials = readFileSync(join(this.dir, `tls-${this.port}`, SASL_PASSWORD_SENTINEL), 'utf8');
    return Object.fromEntries(credentials.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]));
  }

  async stop(): Promise<void> {
    if (!this.dir) return;
    await run('bash', [KAFKA_SH, 'stop'], { env: this.env(), timeout: 60_000 }).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The plaintext listener, for the test's own producing and reading. */
  plaintext(): Kafka {
    return new Kafka({ clientId: 'secure-test', brokers: [`127.0.0.1:${this.port}`], logLevel: logLevel.NOTHING });
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, KAFKA_LOCAL_PORT: String(this.port), KAFKA_LOCAL_SASL_PORT: String(this.saslPort), KAFKA_LOCAL_DIR: this.dir };
  }
}

describe('the service on a Kafka that needs TLS and SASL', () => {
  const broker = new SecureBroker();
  let credentials: Record<string, string>;
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let databaseUrl: string;

  beforeAll(async () => {
    credentials = await broker.start();
    sandbox = await startSandbox({ port: 0, testApi: true, apiKeys: [API_KEY], taskMinMs: 50, taskMsPerRow: 0, taskPendingMs: 10 });
    const database = await migratedDatabase('secure_kafka');
    ({ drop, client: db, url: databaseUrl } = database);
  }, BROKER_START_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await sandbox?.close();
    await drop?.();
    await broker.stop();
  }, 90_000);

  it.each(['scram-sha-512', 'plain'])(
    'consumes, dead-letters and imports through SASL_SSL (%s), and no secret reaches the log',
    async (mechanism) => {
      const topic = uniqueName(`secure-${mechanism}.profile-changes`);
      const dlqTopic = uniqueName(`secure-${mechanism}.dlq`);
      const admin = broker.plaintext().admin();
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      await admin.disconnect();
      const sut = new ServiceProcess({
        KAFKA_BROKERS: `127.0.0.1:${broker.saslPort}`,
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: credentials.KAFKA_SSL_CA_FILE!,
        KAFKA_SASL_MECHANISM: mechanism,
        KAFKA_SASL_USERNAME: credentials.KAFKA_SASL_USERNAME!,
        KAFKA_SASL_PASSWORD: credentials.KAFKA_SASL_PASSWORD!,
        KAFKA_GROUP_ID: uniqueName('secure'),
        SOURCE_TOPICS: `${topic}:profile-change.v1`,
        DLQ_TOPIC: dlqTopic,
        DATABASE_URL: databaseUrl,
        CAAC_BASE_URL: sandbox.url,
        CAAC_API_KEY: API_KEY,
        FLUSH_INTERVAL_MS: '200',
        LOG_LEVEL: 'trace',
      });
      try {
        await sut.start();
        const producer = broker.plaintext().producer();
        await producer.connect();
        await producer.send({
          topic,
          acks: -1,
          messages: [
            { key: 'S-1', value: JSON.stringify(aProfileChange({ key: { customer_id: `S-${mechanism}` }, profile: { display_name: 'Secure Amy' } })) },
            { key: 'S-2', value: '{"not": "an event"' },
          ],
        });
        await producer.disconnect();

        // Imported through the sandbox with the api key: the good event went all the way.
        await waitFor(
          'the good event imported',
          async () => {
            const { rows } = await db.query(`SELECT count(*)::int AS n FROM contact_state WHERE key_value = $1`, [`S-${mechanism}`]);
            return rows[0].n === 1 ? true : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        );
        const letter = await readOne(broker.plaintext(), dlqTopic);
        expect([letter.key, letter.value, letter.headers[DEAD_LETTER_HEADER.stage], letter.headers[DEAD_LETTER_HEADER.offset]]).toEqual([
          'S-2',
          '{"not": "an event"',
          'decode',
          '1',
        ]);
        // The admin token is used, rightly and wrongly: neither attempt writes it.
        expect((await fetch(sut.url('/admin/backlog'), { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).status).toBe(200);
        expect((await fetch(sut.url('/admin/backlog'), { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` } })).status).toBe(401);
      } finally {
        await sut.stop();
      }
      const logs = sut.logs();
      expect(logs).toContain('"msg":"import done"'); // the api key was used while these lines were written
      expect(logs).not.toContain(credentials.KAFKA_SASL_PASSWORD!);
      expect(logs).not.toContain(API_KEY);
      expect(logs).not.toContain(TEST_ADMIN_TOKEN);
    },
    180_000,
  );

  it('refuses a SASL password that the broker does not know, without writing it', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (line: string) => void lines.push(line) } });
    const sut = new KafkaAdapter(
      {
        brokers: [`127.0.0.1:${broker.saslPort}`],
        clientId: 'secure-refused',
        security: {
          ssl: { ca: readFileSync(credentials.KAFKA_SSL_CA_FILE!, 'utf8') },
          sasl: { mechanism: 'scram-sha-256', username: credentials.KAFKA_SASL_USERNAME!, password: 'wrong-PASSWORD-b51e' },
        },
      },
      logger,
    );

    await expect(sut.ping(10_000)).rejects.toThrow(/SASL SCRAM SHA256 authentication failed/);
    expect(lines.join('')).toMatch(/authentication failed/);
    expect(lines.join('')).not.toContain('wrong-PASSWORD-b51e');
  }, 30_000);
});

async function readOne(kafka: Kafka, topic: string): Promise<{ key: string; value: string; headers: Record<string, string> }> {
  const consumer = kafka.consumer({ groupId: uniqueName('secure-reader') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`no message on ${topic} within 60 s`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
          done({ key: String(message.key), value: String(message.value), headers });
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}
