/**
 * A small producer of `profile-change.v1` events for a brand's own services: copy it and adapt.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 TOPIC=crm.profile-changes \
 *   SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7 \
 *   npx ts-node examples/producer/producer.ts C-1001 '{"display_name":"Amy Lin","custom":{"points":120}}'
 *
 * What it shows:
 * - the message key is the contact's import key value, so one contact's changes stay in order
 *   (one partition);
 * - every event gets its own `event_id` (a UUID; a ULID works too), which makes a retried send
 *   cost nothing at the service;
 * - `occurred_at` is when the change happened in your system, not when it is sent: newer wins;
 * - with SCHEMA_REGISTRY_URL, the event is Avro in Confluent's wire format (magic byte 0, the
 *   schema id in 4 bytes, the Avro binary), for a topic read as `profile-change.v1-avro`; the
 *   schema is registered (or found) under `<topic>-value` once at start. Without it, plain JSON
 *   for a topic read as `profile-change.v1`.
 * - absent fields stay as they are in CAAC; a field set to null is cleared;
 * - the event's TypeScript type is generated from the published JSON Schema
 *   (src/ingest/schemas/profile-change.v1.types.ts, by `npm run schemas:types`): copy that file
 *   along, or generate your own from GET /schemas/profile-change.v1.json with json-schema-to-typescript.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from 'avsc';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { ProfileChangeV1 } from '../../src/ingest/schemas/profile-change.v1.types';

/** The Avro schema the service publishes (also at GET /schemas/profile-change.v1.avsc). */
const AVRO_SCHEMA_FILE = process.env.PROFILE_CHANGE_AVRO_SCHEMA_FILE ?? join(__dirname, '../../src/ingest/schemas/profile-change.v1.avro.json');
const REGISTRY_TIMEOUT_MS = 10_000;

/** One `profile-change.v1` event, as its JSON Schema describes it. */
export type ProfileChange = ProfileChangeV1;
/** The import keys a contact can be named by. */
export type KeyType = keyof ProfileChange['key'];

/** One change to one contact, stamped with a fresh event id and the time it happened. */
export function profileChange(keyType: KeyType, keyValue: string, profile: ProfileChange['profile'], occurredAt = new Date()): ProfileChange {
  return { event_id: randomUUID(), occurred_at: occurredAt.toISOString(), key: { [keyType]: keyValue }, profile };
}

export interface ProfileChangeProducerOptions {
  brokers: string[];
  topic: string;
  /** Confluent-compatible API; absent: plain JSON. */
  schemaRegistryUrl?: string;
  registryUsername?: string;
  registryPassword?: string;
}

/** Sends profile-change.v1 events, framed for the Schema Registry when one is configured. */
export class ProfileChangeProducer {
  private readonly producer: Producer;
  private encode: ((event: ProfileChange) => Buffer) | undefined;

  constructor(private readonly options: ProfileChangeProducerOptions) {
    // Idempotent: a send retried after a lost answer is written once. The default partitioner hashes
    // keys as Java clients do, so this producer and a JVM one put a contact on the same partition.
    this.producer = new Kafka({ clientId: 'profile-change-producer', brokers: options.brokers, logLevel: logLevel.WARN }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
    });
  }

  async connect(): Promise<void> {
    const { topic, schemaRegistryUrl, registryUsername, registryPassword } = this.options;
    this.encode = schemaRegistryUrl
      ? await profileChangeAvroEncoder({ registryUrl: schemaRegistryUrl, subject: `${topic}-value`, username: registryUsername, password: registryPassword })
      : (event) => Buffer.from(JSON.stringify(event), 'utf8');
    await this.producer.connect();
  }

  async send(events: ProfileChange[]): Promise<void> {
    if (!this.encode) throw new Error('connect() first');
    await this.producer.send({
      topic: this.options.topic,
      acks: -1,
      messages: events.map((event) => ({ key: Object.values(event.key)[0]!, value: this.encode!(event) })),
    });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

export interface AvroEncoderOptions {
  /** Confluent-compatible API. */
  registryUrl: string;
  /** `<topic>-value`, the subject the service's topic is read under. */
  subject: string;
  username?: string | undefined;
  password?: string | undefined;
}

/**
 * Registers the Avro schema under `subject` (or finds it there: registering the same schema again
 * returns its id) and returns an encoder of events in Confluent's wire format under that id.
 */
export async function profileChangeAvroEncoder(options: AvroEncoderOptions): Promise<(event: ProfileChange) => Buffer> {
  const schema = readFileSync(AVRO_SCHEMA_FILE, 'utf8');
  const headers: Record<string, string> = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
  if (options.username) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  const response = await fetch(`${options.registryUrl.replace(/\/+$/, '')}/subjects/${encodeURIComponent(options.subject)}/versions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ schema }),
    signal: AbortSignal.timeout(REGISTRY_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`the Schema Registry answered ${response.status} registering ${options.subject}`);
  const { id } = (await response.json()) as { id: number };
  const type = Type.forSchema(JSON.parse(schema));
  return (event) => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(id, 1); // byte 0 stays 0: the magic byte
    return Buffer.concat([header, type.toBuffer(event)]);
  };
}

async function main(): Promise<void> {
  const [customerId, profileJson] = process.argv.slice(2);
  if (!customerId || !profileJson) throw new Error('usage: producer.ts <customer_id> <profile JSON>');
  const producer = new ProfileChangeProducer({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    topic: process.env.TOPIC ?? 'crm.profile-changes',
    ...(process.env.SCHEMA_REGISTRY_URL ? { schemaRegistryUrl: process.env.SCHEMA_REGISTRY_URL } : {}),
    ...(process.env.SCHEMA_REGISTRY_USERNAME ? { registryUsername: process.env.SCHEMA_REGISTRY_USERNAME, registryPassword: process.env.SCHEMA_REGISTRY_PASSWORD } : {}),
  });
  await producer.connect();
  try {
    const event = profileChange('customer_id', customerId, JSON.parse(profileJson) as ProfileChange['profile']);
    await producer.send([event]);
    console.log(`sent ${event.event_id}`);
  } finally {
    await producer.disconnect();
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
}
