import { createLogger } from '../../src/common/logger';
import { BatchConsumer, type BatchHandler, type ConsumedBatch } from '../../src/kafka/batch-consumer';
import { KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { produce } from '../support/kafka-io';
import { createTopics, testKafka, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

const PARTITIONS = 3;
const PER_PARTITION = 600;

interface Handled {
  partition: number;
  first: number;
  last: number;
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(BatchConsumer.name, () => {
  const kafka = new KafkaAdapter({ brokers: process.env.TEST_KAFKA_BROKERS!.split(','), clientId: 'batch-consumer-test' }, createLogger({ level: 'silent' }));
  let consumer: BatchConsumer | undefined;

  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
  });

  /** A topic of PARTITIONS x PER_PARTITION small messages, each value its own partition and index. */
  async function filledTopic(): Promise<string> {
    const topic = uniqueName('batch-consumer');
    await createTopics([{ topic, partitions: PARTITIONS }]);
    // Sent in several requests, so each partition holds many small record batches.
    for (let from = 0; from < PER_PARTITION; from += 50) {
      const messages = [];
      for (let i = from; i < from + 50; i++) {
        for (let partition = 0; partition < PARTITIONS; partition++) messages.push({ partition, key: null, value: `${partition}:${i}` });
      }
      await produce(topic, messages);
    }
    return topic;
  }

  function start(
    topic: string,
    handler: BatchHandler,
    {
      groupId = uniqueName('batch-consumer-group'),
      pauseAfterMs = 1_000,
      concurrency = PARTITIONS,
      fetchBytes = 1_024,
      maxBatchMessages = 1_000_000,
    }: { groupId?: string; pauseAfterMs?: number; concurrency?: number; fetchBytes?: number; maxBatchMessages?: number } = {},
  ): BatchConsumer {
    const sut = new BatchConsumer(
      kafka,
      {
        groupId,
        topics: [topic],
        // Small fetches by default, so each partition comes in many batches.
        maxBytesPerPartition: fetchBytes,
        maxBytes: fetchBytes * PARTITIONS,
        maxBatchMessages,
        partitionsConsumedConcurrently: concurrency,
        sessionTimeoutMs: 10_000,
        pauseAfterMs,
        startOffsets: async () => [],
      },
      createLogger({ level: 'silent' }),
    );
    void sut.start(handler);
    return sut;
  }

  function record(batch: ConsumedBatch, startedAt: number, ok: boolean): Handled {
    return {
      partition: batch.partition,
      first: Number(batch.messages[0]!.offset),
      last: Number(batch.messages[batch.messages.length - 1]!.offset),
      startedAt,
      endedAt: performance.now(),
      ok,
    };
  }

  /** Offsets stored per partition, in the order the batches were stored. */
  function storedOffsets(handled: Handled[], partition: number): number[] {
    return handled
      .filter((entry) => entry.partition === partition && entry.ok)
      .flatMap((entry) => Array.from({ length: entry.last - entry.first + 1 }, (_, i) => entry.first + i));
  }

  const everyOffset = Array.from({ length: PER_PARTITION }, (_, i) => i);

  it("hands each partition's batches over in order, one at a time, while partitions overlap, and commits in Kafka behind them", async () => {
    const topic = await filledTopic();
    const groupId = uniqueName('batch-consumer-group');
    const handled: Handled[] = [];
    consumer = start(
      topic,
      async (batch) => {
        const startedAt = performance.now();
        await sleep(15);
        handled.push(record(batch, startedAt, true));
      },
      { groupId },
    );

    await waitFor('every message handled', () => (handled.reduce((n, entry) => n + entry.last - entry.first + 1, 0) >= PARTITIONS * PER_PARTITION ? true : undefined), {
      timeoutMs: 60_000,
    });

    for (let partition = 0; partition < PARTITIONS; partition++) {
      expect(storedOffsets(handled, partition)).toEqual(everyOffset);
      const batches = handled.filter((entry) => entry.partition === partition);
      expect(batches.length).toBeGreaterThanOrEqual(4);
      for (let i = 1; i < batches.length; i++) expect(batches[i]!.startedAt).toBeGreaterThanOrEqual(batches[i - 1]!.endedAt);
    }
    const overlapping = handled.some((a) => handled.some((b) => a.partition !== b.partition && a.startedAt < b.endedAt && b.startedAt < a.endedAt));
    expect(overlapping).toBe(true);

    // Lag monitoring reads the group's offsets in Kafka: they follow the stored batches.
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const committed = await waitFor('Kafka commits at the end of every partition', async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const byPartition = offsets!.partitions.map((entry) => Number(entry.offset)).sort();
        return byPartition.every((offset) => offset === PER_PARTITION) && byPartition.length === PARTITIONS ? byPartition : undefined;
      });
      expect(committed).toEqual(Array(PARTITIONS).fill(PER_PARTITION));
    } finally {
      await admin.disconnect();
    }
  });

  it('reads a partition again from a batch whose handler failed, and hands over nothing after it first', async () => {
    const topic = await filledTopic();
    const handled: Handled[] = [];
    let failed: Handled | undefined;
    consumer = start(topic, async (batch) => {
      const startedAt = performance.now();
      await sleep(5);
      // The first batch of partition 1 that starts past offset 200 fails once.
      if (!failed && batch.partition === 1 && Number(batch.messages[0]!.offset) > 200) {
        failed = record(batch, startedAt, false);
        handled.push(failed);
        throw new Error('not stored');
      }
      handled.push(record(batch, startedAt, true));
    });

    await waitFor('every message stored', () => (PARTITIONS * PER_PARTITION <= handled.filter((e) => e.ok).reduce((n, e) => n + e.last - e.first + 1, 0) ? true : undefined), {
      timeoutMs: 60_000,
    });

    for (let partition = 0; partition < PARTITIONS; partition++) expect(storedOffsets(handled, partition)).toEqual(everyOffset);
    // Partition 1: the batch after the failure starts where the failed one started.
    const partition1 = handled.filter((entry) => entry.partition === 1);
    const after = partition1[partition1.indexOf(failed!) + 1]!;
    expect(after).toMatchObject({ first: failed!.first, ok: true });
  });

  it('hands a large fetch over in parts of at most maxBatchMessages, in order, and reads again from a part that failed', async () => {
    const topic = await filledTopic();
    const handled: Handled[] = [];
    let failed: Handled | undefined;
    consumer = start(
      topic,
      async (batch) => {
        const startedAt = performance.now();
        // The first part of partition 2 that starts past offset 100 fails once.
        if (!failed && batch.partition === 2 && Number(batch.messages[0]!.offset) > 100) {
          failed = record(batch, startedAt, false);
          handled.push(failed);
          throw new Error('not stored');
        }
        handled.push(record(batch, startedAt, true));
      },
      { fetchBytes: 1_048_576, maxBatchMessages: 7 },
    );

    await waitFor('every message stored', () => (PARTITIONS * PER_PARTITION <= handled.filter((e) => e.ok).reduce((n, e) => n + e.last - e.first + 1, 0) ? true : undefined), {
      timeoutMs: 60_000,
    });

    for (let partition = 0; partition < PARTITIONS; partition++) expect(storedOffsets(handled, partition)).toEqual(everyOffset);
    expect(Math.max(...handled.map((entry) => entry.last - entry.first + 1))).toBe(7);
    const partition2 = handled.filter((entry) => entry.partition === 2);
    expect(partition2[partition2.indexOf(failed!) + 1]).toMatchObject({ first: failed!.first, ok: true });
  });

  it('pauses a partition whose batch is slow, and the other partitions flow on meanwhile', async () => {
    const topic = await filledTopic();
    const handled: Handled[] = [];
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let stuck: Handled | undefined;
    consumer = start(
      topic,
      async (batch) => {
        const startedAt = performance.now();
        // Partition 0's second batch hangs (as if Postgres did) until the others are done.
        if (batch.partition === 0 && Number(batch.messages[0]!.offset) > 0 && !stuck) {
          stuck = record(batch, startedAt, true);
          await released;
        }
        handled.push(record(batch, startedAt, true));
      },
      { pauseAfterMs: 200 },
    );

    try {
      await waitFor('partitions 1 and 2 done while partition 0 hangs', () =>
        storedOffsets(handled, 1).length === PER_PARTITION && storedOffsets(handled, 2).length === PER_PARTITION ? true : undefined,
      );
      expect(stuck).toBeDefined();
      expect(handled.filter((entry) => entry.partition === 0 && entry.first >= stuck!.first)).toEqual([]);
    } finally {
      release();
    }
    await waitFor('partition 0 done', () => (storedOffsets(handled, 0).length === PER_PARTITION ? true : undefined));
    for (let partition = 0; partition < PARTITIONS; partition++) expect(storedOffsets(handled, partition)).toEqual(everyOffset);
  });

  it('pauses the partitions waiting for a free slot too, so fetching never stalls behind them', async () => {
    const topic = await filledTopic();
    const handled: Handled[] = [];
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // One slot, taken by a batch that hangs: every partition ends up paused, none blocks the fetcher.
    consumer = start(
      topic,
      async (batch) => {
        const startedAt = performance.now();
        await released;
        handled.push(record(batch, startedAt, true));
      },
      { pauseAfterMs: 200, concurrency: 1 },
    );
    try {
      const status = await waitFor('every partition paused', () => (consumer!.status().paused === PARTITIONS ? consumer!.status() : undefined));
      expect(status).toMatchObject({ paused: PARTITIONS, partitions: PARTITIONS });
    } finally {
      release();
    }

    await waitFor('every message handled', () =>
      Array.from({ length: PARTITIONS }, (_, partition) => storedOffsets(handled, partition).length).every((n) => n === PER_PARTITION) ? true : undefined,
    );
    for (let partition = 0; partition < PARTITIONS; partition++) expect(storedOffsets(handled, partition)).toEqual(everyOffset);
  });

  it('stops only after the batch in work is done', async () => {
    const topic = await filledTopic();
    let inWork = 0;
    let done = 0;
    consumer = start(topic, async () => {
      inWork++;
      await sleep(300);
      done++;
    });
    await waitFor('a batch in work', () => (inWork > 0 ? true : undefined), { timeoutMs: 30_000 });

    await consumer.stop();
    consumer = undefined;

    expect(done).toBe(inWork);
  });
});
