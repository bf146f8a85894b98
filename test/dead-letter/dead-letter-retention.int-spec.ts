import type { DataSource } from 'typeorm';
import { systemClock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import { DeadLetterOutboxRepository } from '../../src/dead-letter/dead-letter-outbox.repository';
import { DeadLetterRelay } from '../../src/dead-letter/dead-letter-relay.service';
import { KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { Metrics } from '../../src/telemetry/metrics';
import { migratedDataSource } from '../support/database';
import { createTopics, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

const DAY_MS = 86_400_000;

describe('published dead letters past DEAD_LETTER_RETENTION_MS', () => {
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  let relay: DeadLetterRelay | undefined;

  beforeAll(async () => {
    const database = await migratedDataSource('dead_letter_retention');
    dataSource = database.dataSource;
    drop = database.drop;
  });

  afterAll(async () => {
    await relay?.beforeApplicationShutdown();
    await drop?.();
  });

  /** A letter made `createdDaysAgo` and published `publishedDaysAgo` (null: not yet), keyed `label`. */
  async function aLetter(label: string, createdDaysAgo: number, publishedDaysAgo: number | null): Promise<void> {
    await dataSource.query(
      `INSERT INTO dead_letter_outbox (stage, message_key, message, headers, created_at, published_at)
       VALUES ('import', convert_to($1, 'UTF8'), convert_to('{}', 'UTF8'), '{}', now() - make_interval(days => $2), CASE WHEN $3::int IS NULL THEN NULL ELSE now() - make_interval(days => $3::int) END)`,
      [label, createdDaysAgo, publishedDaysAgo],
    );
  }
  const keysLeft = async () => ((await dataSource.query(`SELECT convert_from(message_key, 'UTF8') AS key FROM dead_letter_outbox ORDER BY id`)) as Array<{ key: string }>).map((row) => row.key);

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE dead_letter_outbox`);
  });

  it('deletes published letters older than the retention, a batch at a time, and keeps recent and unpublished ones', async () => {
    for (let i = 0; i < 5; i++) await aLetter(`old-${i}`, 9, 8);
    await aLetter('recent', 2, 1);
    await aLetter('unpublished', 30, null);
    const sut = new DeadLetterOutboxRepository(dataSource);

    await expect(sut.prunePublished(7 * DAY_MS, 2)).resolves.toBe(5);

    await expect(keysLeft()).resolves.toEqual(['recent', 'unpublished']);
    await expect(sut.prunePublished(7 * DAY_MS, 2)).resolves.toBe(0);
  });

  it('is done by the relay of every instance as it runs', async () => {
    await aLetter('old', 9, 8);
    await aLetter('recent', 2, 1);
    const dlqTopic = uniqueName('retention.dlq');
    await createTopics([{ topic: dlqTopic }]);
    const config = testConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', SOURCE_TOPICS: 'unused:profile-change.v1', DLQ_TOPIC: dlqTopic });
    const logger = createLogger({ level: 'silent' });
    relay = new DeadLetterRelay(config, logger, systemClock, new KafkaAdapter({ brokers: config.kafka.brokers, clientId: 'retention-test' }, logger), dataSource, new Metrics());

    await relay.onApplicationBootstrap();

    await waitFor('the old letter pruned', async () => ((await keysLeft()).includes('old') ? undefined : true), { timeoutMs: 10_000 });
    await expect(keysLeft()).resolves.toEqual(['recent']);
  });
});
