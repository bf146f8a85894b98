import type { INestApplication } from '@nestjs/common';
import { ProfileChangeProducer, profileChange } from '../../examples/producer/producer';
import { readFrame } from '../../src/schema-registry/wire-format';
import { runCli } from '../support/cli-process';
import { migratedDatabase } from '../support/database';
import { highWatermarks, readTopic } from '../support/kafka-io';
import { pendingValues, waitUntilStaged } from '../support/pipeline';
import { testRegistryUrl } from '../support/schema-registry';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

describe('the producer kit: schemas:register and examples/producer', () => {
  it('registers profile-change.v1 under the topic subject, and the example producer\'s Avro events are staged by a profile-change.v1-avro topic', async () => {
    const registryUrl = await testRegistryUrl();
    const database = await migratedDatabase('producer_kit');
    const topic = uniqueName('producer-kit.profile-changes');
    const dlqTopic = uniqueName('producer-kit.dlq');
    let sut: INestApplication | undefined;
    const producer = new ProfileChangeProducer({ brokers: process.env.TEST_KAFKA_BROKERS!.split(','), topic, schemaRegistryUrl: registryUrl });
    try {
      await createTopics([{ topic }, { topic: dlqTopic }]);
      const registered = await runCli(['schemas:register', '--topic', topic, '--json'], { SCHEMA_REGISTRY_URL: registryUrl });
      expect(registered.code).toBe(0);
      const { subject, schemaType, id } = JSON.parse(registered.stdout) as { subject: string; schemaType: string; id: number };
      expect([subject, schemaType]).toEqual([`${topic}-value`, 'AVRO']);

      sut = await startService(
        testConfig({
          DATABASE_URL: database.url,
          SOURCE_TOPICS: `${topic}:profile-change.v1-avro`,
          SCHEMA_REGISTRY_URL: registryUrl,
          KAFKA_GROUP_ID: uniqueName('producer-kit'),
          DLQ_TOPIC: dlqTopic,
          IMPORTER_ENABLED: 'false',
        }),
      );
      await producer.connect();
      const at = new Date('2026-11-30T08:00:00.000Z');
      await producer.send([
        profileChange('customer_id', 'P-1', { display_name: 'Amy Lin', display_email: ' Amy@Example.com ', custom: { points: 120 } }, at),
        profileChange('customer_id', 'P-2', { gender: 'female', star_mark: true }, at),
        profileChange('customer_id', 'P-1', { display_name: null }, new Date(at.getTime() + 1_000)),
      ]);
      await waitUntilStaged(database.client, topic);

      const [first] = await readTopic(topic, 1);
      const frame = readFrame(first!.value!);
      expect(frame.ok && frame.schemaId).toBe(id); // the producer found the schema the CLI registered
      expect(first!.key!.toString()).toBe('P-1');
      expect(Object.fromEntries(await pendingValues(database.client))).toEqual({
        'P-1': { display_name: null, display_email: 'amy@example.com', cl_custom_points: 120 },
        'P-2': { gender: 'female', star_mark: true },
      });
      expect([...(await highWatermarks(dlqTopic)).values()]).toEqual([0n]);
    } finally {
      await producer.disconnect();
      await sut?.close();
      await database.drop();
    }
  });

  it('schemas:register without SCHEMA_REGISTRY_URL fails naming it', async () => {
    const run = await runCli(['schemas:register', '--topic', 'any'], {});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('SCHEMA_REGISTRY_URL: is required');
  });
});
