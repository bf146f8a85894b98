import { failureKind, RecordRejectedError } from '../../src/common/failure-kind';
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES, KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { createLogger } from '../../src/common/logger';
import { describeTopic, readTopic } from '../support/kafka-io';
import { createTopics, uniqueName } from '../support/service';

describe(KafkaAdapter.name, () => {
  const sut = new KafkaAdapter({ brokers: process.env.TEST_KAFKA_BROKERS!.split(','), clientId: 'adapter-test' }, createLogger({ level: 'silent' }));

  it('creates a topic, produces to it and reads the messages back through the real broker', async () => {
    const topic = uniqueName('adapter.round-trip');
    await expect(sut.missingTopics([topic])).resolves.toEqual([topic]);

    await sut.ensureTopics([{ topic, partitions: 2 }]);
    await expect(sut.missingTopics([topic])).resolves.toEqual([]);
    const producer = await sut.createProducer();
    await producer.send(topic, [
      { key: 'C-1', value: '{"n":1}', headers: { 'caac-sync.errors.stage': 'decode' } },
      { key: 'C-2', value: '{"n":2}' },
    ]);
    await producer.disconnect();

    const read = await readTopic(topic, 2, 20_000);
    expect(read.map((m) => [m.key?.toString(), m.value?.toString()]).sort()).toEqual([
      ['C-1', '{"n":1}'],
      ['C-2', '{"n":2}'],
    ]);
    expect(read.find((m) => m.key?.toString() === 'C-1')?.headers).toEqual({ 'caac-sync.errors.stage': 'decode' });
  });

  it('creates a topic with its settings, and reads the limit of a topic made by someone else', async () => {
    const ours = uniqueName('adapter.configured');
    const theirs = uniqueName('adapter.defaults');
    await createTopics([{ topic: theirs }]);

    await sut.ensureTopics([{ topic: ours, partitions: 3, replicationFactor: 1, config: { 'max.message.bytes': '2000000' } }]);

    await expect(describeTopic(ours)).resolves.toEqual({ partitions: 3, maxMessageBytes: 2_000_000 });
    await expect(sut.maxMessageBytes(ours)).resolves.toBe(2_000_000);
    await expect(sut.maxMessageBytes(theirs)).resolves.toBe(KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
  });

  it('reports a record the broker refuses as too large as a deterministic RecordRejectedError, and sends on afterwards', async () => {
    const topic = uniqueName('adapter.too-large');
    await createTopics([{ topic }]);
    const producer = await sut.createProducer();
    try {
      const refused = producer.send(topic, [{ key: 'C-1', value: Buffer.alloc(2 * KAFKA_DEFAULT_MAX_MESSAGE_BYTES, 'x') }]);

      await expect(refused).rejects.toEqual(new RecordRejectedError('MESSAGE_TOO_LARGE', 'the broker refused the record(s): MESSAGE_TOO_LARGE'));
      expect(failureKind(await refused.catch((error: unknown) => error))).toBe('deterministic');
      await expect(producer.send(topic, [{ key: 'C-2', value: 'small' }])).resolves.toBeUndefined();
    } finally {
      await producer.disconnect();
    }
    const [read] = await readTopic(topic, 1, 20_000);
    expect([read!.key?.toString(), read!.value?.toString()]).toEqual(['C-2', 'small']);
  });

  it('answers a ping with the cluster it reached', async () => {
    await expect(sut.ping(3_000)).resolves.toMatchObject({ brokers: 1 });
  });
});
