import { ConfigResourceTypes, type IHeaders } from 'kafkajs';
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
