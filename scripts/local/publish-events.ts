/** Publishes a few profile-change.v1 events from "the brand's own services", one of them bad. */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const now = Date.now();
const events = [
  { key: { customer_id: 'APP-0001' }, profile: { display_name: 'Amy Lin', display_email: ' Amy@Example.com ', display_mobile: '0912-345-678', custom: { points: 120, tier: 'gold' } } },
  { key: { customer_id: 'APP-0002' }, profile: { display_name: 'Ben Wu', gender: 'male', birthday: '1990-04-01' } },
  { key: { customer_id: 'APP-0001' }, profile: { gender: null, custom: { points: 150 } } },
  { key: { customer_id: 'APP-0003' }, profile: { display_email: 'not-an-address' } },
];

async function main(): Promise<void> {
  const producer = new Kafka({ clientId: 'start-local', brokers: ['127.0.0.1:9092'], logLevel: logLevel.NOTHING }).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  await producer.send({
    topic: 'crm.profile-changes',
    messages: events.map((event, i) => ({
      key: Object.values(event.key)[0],
      value: JSON.stringify({ event_id: randomUUID(), occurred_at: new Date(now + i).toISOString(), ...event }),
    })),
  });
  await producer.disconnect();
  process.stdout.write(`${JSON.stringify({ published: events.length, topic: 'crm.profile-changes' })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`publish-events: ${error.message}\n`);
  process.exit(1);
});
