import { ConfigResourceTypes, type Consumer, type IHeaders } from 'kafkajs';
import { testKafka } from './service';

export async function produce(topic: string, messages: Array<{ partition?: number; key?: string | null; value: Buffer | string | null; headers?: Record<string, string> }>): Promise<void> {
  const producer = testKafka().producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const CHUNK = 500;
    for (let i = 0; i < messages.length; i += CHUNK) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + CHUNK) });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface ReadMessage {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Reads a topic from the beginning until `count` messages arrived, or fails after `timeoutMs`. */
export async function readTopic(
  topic: string,
  count: number,
  timeoutMs = 30_000,
  until: (read: ReadMessage[]) => boolean = (read) => read.length >= count,
): Promise<ReadMessage[]> {
  const consumer = testKafka().consumer({ groupId: `reader-${topic}-${Date.now()}-${Math.random()}` });
  const read: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${read.length} of ${count} messages from ${topic} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          read.push({ partition, offset: message.offset, key: message.key, value: message.value, headers: stringHeaders(message.headers) });
          if (until(read)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return read;
}

/**
 * A reader that follows a topic from the beginning for the whole of a test file, so that reading
 * it again costs no consumer-group join: `latest()` waits until it has every message the broker
 * holds (bounded), then gives the last value per key (null for a tombstone) and the count read.
 */
export class TopicTail {
  private readonly read: ReadMessage[] = [];
  private readonly consumer: Consumer;

  constructor(readonly topic: string) {
    this.consumer = testKafka().consumer({ groupId: `tail-${topic}-${Date.now()}-${Math.random()}` });
  }

  async start(): Promise<this> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    void this.consumer.run({
      eachMessage: async ({ partition, message }) => {
        this.read.push({ partition, offset: message.offset, key: message.key, value: message.value, headers: stringHeaders(message.headers) });
      },
    });
    return this;
  }

  async latest(timeoutMs = 30_000): Promise<{ latest: Map<string, Buffer | null>; messages: number }> {
    const total = [...(await highWatermarks(this.topic)).values()].reduce((sum, high) => sum + Number(high), 0);
    const deadline = Date.now() + timeoutMs;
    while (this.read.length < total) {
      if (Date.now() > deadline) throw new Error(`read ${this.read.length} of ${total} messages from ${this.topic} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const ordered = [...this.read].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
    return { latest: new Map(ordered.map((message) => [message.key!.toString(), message.value])), messages: this.read.length };
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

/** Latest offsets (high watermarks) of every partition of a topic. */
export async function highWatermarks(topic: string): Promise<Map<number, bigint>> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) out[name] = value.toString();
  return out;
}

/** A topic's partition count and its `max.message.bytes`, as the broker reports them. */
export async function describeTopic(topic: string): Promise<{ partitions: number; maxMessageBytes: number }> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
    });
    return {
      partitions: metadata.topics[0]!.partitions.length,
      maxMessageBytes: Number(configs.resources[0]!.configEntries.find((entry) => entry.configName === 'max.message.bytes')!.configValue),
    };
  } finally {
    await admin.disconnect();
  }
}
