import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { freshDatabase, migratedDatabase } from './support/database';
import { freePort } from './support/free-port';
import { createTopics, TEST_ADMIN_TOKEN, TEST_API_KEY, testKafka, uniqueName } from './support/service';

const MAIN = resolve(__dirname, '../dist/main.js');

/** Runs the built service until it exits by itself (a start-up that fails), as an operator would. */
function runService(env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [MAIN],
      {
        timeout: timeoutMs,
        env: {
          PATH: process.env.PATH,
          KAFKA_BROKERS: process.env.TEST_KAFKA_BROKERS!,
          CAAC_BASE_URL: 'http://127.0.0.1:4010',
          CAAC_API_KEY: TEST_API_KEY,
          ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          HTTP_HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
          KAFKAJS_NO_PARTITIONER_WARNING: '1',
          ...env,
        },
      },
      (error, stdout, stderr) => {
        if (error?.killed) return fail(new Error(`the service did not stop by itself:\n${stdout}${stderr}`));
        done({ code: typeof error?.code === 'number' ? error.code : 0, output: stdout + stderr });
      },
    );
  });
}

describe('start-up of the service process', () => {
  const topic = uniqueName('startup.changes');

  beforeAll(async () => {
    await createTopics([{ topic }]);
  });

  it('stops on a database without its tables, in one line that says how to create them', async () => {
    const database = await freshDatabase('startup_empty');
    try {
      const sut = await runService({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, HTTP_PORT: String(await freePort()) });

      expect(sut.code).toBe(1);
      const failures = sut.output.split('\n').filter((line) => line.includes('caac_sync_migrations'));
      expect(failures).toEqual([
        `caac-profile-sync failed to start: database ${database.name} on 127.0.0.1:${new URL(database.url).port} has none of the service's tables (no caac_sync_migrations table): ` +
          'run `npm run migration:run` or set `MIGRATE_ON_START=true` (with this DATABASE_URL)',
      ]);
      expect(sut.output).not.toContain('does not exist');
      expect(sut.output).not.toContain('caac-profile-sync started');
    } finally {
      await database.drop();
    }
  });

  it('stops on a source topic that does not exist, naming the topic most likely meant', async () => {
    const database = await migratedDatabase('startup_topic_typo');
    try {
      const typo = topic.replace('startup.changes', 'startup.change');
      const sut = await runService({ DATABASE_URL: database.url, SOURCE_TOPICS: `${typo}:profile-change.v1`, HTTP_PORT: String(await freePort()) });

      expect(sut.code).toBe(1);
      expect(sut.output.split('\n').filter((line) => line.includes('failed to start'))).toEqual([
        `caac-profile-sync failed to start: SOURCE_TOPICS: topic(s) ${typo} (did you mean "${topic}"?) do not exist on ${process.env.TEST_KAFKA_BROKERS}`,
      ]);
    } finally {
      await database.drop();
    }
  });

  it('stops on a busy HTTP port before it joins the consumer group', async () => {
    const database = await migratedDatabase('startup_busy_port');
    const groupId = uniqueName('startup-busy');
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((done) => squatter.listen(port, '127.0.0.1', () => done()));
    try {
      const sut = await runService({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: groupId, HTTP_PORT: String(port) });

      expect(sut.code).toBe(1);
      expect(sut.output.split('\n').filter((line) => line.includes('EADDRINUSE'))).toEqual([expect.stringMatching(/^caac-profile-sync failed to start: .*EADDRINUSE/)]);
      // Never joined: the broker knows no member of the group, now or before.
      const admin = testKafka().admin();
      await admin.connect();
      try {
        const { groups } = await admin.describeGroups([groupId]);
        expect(groups.map((group) => ({ state: group.state, members: group.members.length }))).toEqual([{ state: 'Dead', members: 0 }]);
      } finally {
        await admin.disconnect();
      }
    } finally {
      await new Promise<void>((done) => squatter.close(() => done()));
      await database.drop();
    }
  });
});
