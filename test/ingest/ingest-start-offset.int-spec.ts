import type { INestApplication } from '@nestjs/common';
import { createLogger } from '../../src/common/logger';
import { migratedDatabase } from '../support/database';
import { produce } from '../support/kafka-io';
import { pendingValues, waitUntilStaged } from '../support/pipeline';
import { aProfileChange } from '../support/profile-events';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

const PARTITIONS = 2;

/**
 * A database restored or replaced while the consumer group lives on: Postgres holds no offset, the
 * group has committed offsets past everything sent so far. INGEST_START_WITHOUT_STORED_OFFSET says
 * whether the topic is read again, and the log says where each partition started and why.
 */
describe('where a partition starts when Postgres holds no offset for it', () => {
  const topic = uniqueName('start-offset.changes');
  const groupId = uniqueName('start-offset');
  const databases: Array<() => Promise<void>> = [];
  let service: INestApplication | undefined;

  const events = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => ({
      key: `C-${from + i}`,
      value: JSON.stringify(aProfileChange({ key: { customer_id: `C-${from + i}` }, profile: { city: 'Taipei' } })),
    }));

  /** Starts an ingest-only service on a fresh database, in the shared consumer group. */
  async function ingestInto(env: Record<string, string>) {
    const database = await migratedDatabase('start_offset');
    databases.push(database.drop);
    const lines: string[] = [];
    service = await startService(
      testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: groupId, IMPORTER_ENABLED: 'false', ...env }),
      createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } }),
    );
    return { db: database.client, lines };
  }

  async function stop() {
    await service?.close();
    service = undefined;
  }

  const starts = (lines: string[]) =>
    lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => typeof line.msg === 'string' && line.msg.startsWith('partition starts'))
      .map(({ partition, from }) => ({ partition, from }))
      .sort((a, b) => Number(a.partition) - Number(b.partition));

  beforeAll(async () => {
    await createTopics([{ topic, partitions: PARTITIONS }]);
    await produce(topic, events(0, 20));
    // A first database reads everything; the group commits its offsets to Kafka as it goes.
    const { db } = await ingestInto({});
    await waitUntilStaged(db, topic);
    await stop();
  });

  afterAll(async () => {
    await stop();
    for (const drop of databases) await drop();
  });

  it('reads the topic again from the earliest offset into a fresh database with INGEST_START_WITHOUT_STORED_OFFSET=earliest', async () => {
    const { db, lines } = await ingestInto({ INGEST_START_WITHOUT_STORED_OFFSET: 'earliest' });

    await waitUntilStaged(db, topic);

    await expect(pendingValues(db)).resolves.toEqual(new Map(Array.from({ length: 20 }, (_, i) => [`C-${i}`, { city: 'Taipei' }])));
    expect(starts(lines)).toEqual([
      { partition: 0, from: 'earliest' },
      { partition: 1, from: 'earliest' },
    ]);
    await stop();
  });

  it("starts at the group's committed offset by default, and warns that earlier messages are skipped", async () => {
    const { db, lines } = await ingestInto({});
    await produce(topic, events(100, 1));

    // Only the new event's partition stores an offset: the other has nothing after its committed one.
    await waitFor('the new event staged', async () => ((await pendingValues(db)).has('C-100') ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });

    await expect(pendingValues(db)).resolves.toEqual(new Map([['C-100', { city: 'Taipei' }]]));
    const warnings = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.from === 'committed');
    expect(warnings.map((line) => ({ level: line.level, msg: line.msg }))).toEqual([
      { level: 40, msg: "partition starts at the group's committed offset, skipping earlier messages" },
      { level: 40, msg: "partition starts at the group's committed offset, skipping earlier messages" },
    ]);
    expect(String(warnings[0]!.why)).toContain('set INGEST_START_WITHOUT_STORED_OFFSET=earliest to read them');
  });
});
