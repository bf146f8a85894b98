/**
 * Undoes what `npm run start:local` made, after its processes have stopped: the service's and the
 * CRM's databases and the demo's topics. The replication slot and publication are the CDC
 * connector's, dropped by `docker/connect.sh reset` before this runs.
 */
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';

/** Topics the demo writes: its two source topics and the service's default dead-letter topic. */
const DEMO_TOPICS = ['crm.profile-changes', 'crm.public.customers', 'caac-sync.dlq'];

async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1).replace(/"/g, '');
  const admin = new Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString(), connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    process.stderr.write(`teardown: database ${name} dropped\n`);
  } finally {
    await admin.end();
  }
}

async function main(): Promise<void> {
  await dropDatabase(process.env.LOCAL_DATABASE_URL!);
  await dropDatabase(process.env.CRM_DATABASE_URL!);
  const kafka = new Kafka({ clientId: 'start-local', brokers: ['127.0.0.1:9092'], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
  await kafka.connect();
  try {
    const existing = new Set(await kafka.listTopics());
    const topics = DEMO_TOPICS.filter((topic) => existing.has(topic));
    if (topics.length > 0) await kafka.deleteTopics({ topics, timeout: 10_000 });
    process.stderr.write(`teardown: topics ${topics.join(', ') || '(none)'} deleted\n`);
  } finally {
    await kafka.disconnect();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`teardown: ${error.message}\n`);
  process.exit(1);
});
