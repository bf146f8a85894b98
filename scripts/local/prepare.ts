/**
 * Gives the local run a fresh service database (the sandbox starts empty too, so what CAAC holds and
 * what the service believes it holds agree), and creates the source topics if they are missing.
 */
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';

async function main(): Promise<void> {
  const url = new URL(process.env.LOCAL_DATABASE_URL!);
  const name = url.pathname.slice(1);
  const admin = new Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '')}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  await admin.end();

  const kafka = new Kafka({ clientId: 'start-local', brokers: ['127.0.0.1:9092'], logLevel: logLevel.NOTHING }).admin();
  await kafka.connect();
  const topics = await kafka.listTopics();
  if (!topics.includes('crm.profile-changes')) {
    await kafka.createTopics({ waitForLeaders: true, topics: [{ topic: 'crm.profile-changes', numPartitions: 3 }] });
  }
  if (!topics.includes('crm.public.customers')) {
    await kafka.createTopics({ waitForLeaders: true, topics: [{ topic: 'crm.public.customers', numPartitions: 3 }] });
  }
  await kafka.disconnect();
}

main().catch((error: Error) => {
  process.stderr.write(`prepare: ${error.message}\n`);
  process.exit(1);
});
