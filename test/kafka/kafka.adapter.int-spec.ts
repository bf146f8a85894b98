import { KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { createLogger } from '../../src/common/logger';
import { readTopic } from '../support/kafka-io';
import { uniqueName } from '../support/service';

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

  it('answers a ping with the cluster it reached', async () => {
    await expect(sut.ping(3_000)).resolves.toMatchObject({ brokers: 1 });
  });
});
