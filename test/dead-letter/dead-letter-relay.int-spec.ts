import type { DataSource } from 'typeorm';
import { systemClock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import type { DeadLetter } from '../../src/dead-letter/dead-letter';
import { DeadLetterRelay } from '../../src/dead-letter/dead-letter-relay.service';
import { Metrics } from '../../src/telemetry/metrics';
import { KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { migratedDataSource } from '../support/database';
import { highWatermarks, readTopic } from '../support/kafka-io';
import { createTopics, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

/** An import failure's dead letter: the contact's patch as JSON (DESIGN §4.4). */
function anImportDeadLetter(i: number): DeadLetter {
  const patch = { customer_id: `C-${i}`, display_name: `Name ${i}`, address: 'x'.repeat(4_000) };
  return { stage: 'import', key: `customer_id:C-${i}`, value: JSON.stringify(patch), errorClass: 'RowRejected', message: 'address: too long', taskId: 'task-1', at: Date.now() };
}

describe(DeadLetterRelay.name, () => {
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  let sut: DeadLetterRelay | undefined;
  const dlqTopic = uniqueName('relay.dlq');

  beforeAll(async () => {
    const database = await migratedDataSource('dead_letter_relay');
    dataSource = database.dataSource;
    drop = database.drop;
    // Made by an operator with the broker's defaults: 1 MiB per request.
    await createTopics([{ topic: dlqTopic }]);
  });

  afterAll(async () => {
    await sut?.beforeApplicationShutdown();
    await drop?.();
  });

  it('moves a round of letters larger than one request of the topic, every letter once', async () => {
    const letters = Array.from({ length: 1_200 }, (_, i) => anImportDeadLetter(i)); // ~4.9 MB in all
    const config = testConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', SOURCE_TOPICS: 'unused:profile-change.v1', DLQ_TOPIC: dlqTopic });
    const logger = createLogger({ level: 'silent' });
    sut = new DeadLetterRelay(config, logger, systemClock, new KafkaAdapter({ brokers: config.kafka.brokers, clientId: 'relay-test' }, logger), dataSource, new Metrics());
    await dataSource.transaction((db) => sut!.outbox.add(db, letters));

    await sut.onApplicationBootstrap();
    await waitFor('the outbox published', async () => ((await sut!.outbox.counts())[0]?.unpublished === 0 ? true : undefined), { timeoutMs: 60_000 });

    await expect(sut.outbox.counts()).resolves.toEqual([{ stage: 'import', published: 1_200, unpublished: 0 }]);
    const read = await readTopic(dlqTopic, letters.length, 30_000);
    expect([...(await highWatermarks(dlqTopic)).values()].reduce((sum, high) => sum + high, 0n)).toBe(1_200n);
    expect(read.map((letter) => letter.key?.toString()).sort()).toEqual(letters.map((letter) => String(letter.key)).sort());
    expect(read.every((letter) => letter.headers['caac-sync.errors.task_id'] === 'task-1')).toBe(true);
  });
});
