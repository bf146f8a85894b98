import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { migratedDatabase } from './database';
import { createTopics, startService, testConfig, uniqueName } from './service';

/** The whole chain of one test file: a quick sandbox CAAC, a migrated database, a source topic and the service. */
export interface SandboxPipeline {
  sandbox: RunningSandbox;
  /** The test's own connection to the service's database. */
  db: Client;
  sut: INestApplication;
  /** The service's base URL. */
  base: string;
  /** The `profile-change.v1` source topic. */
  changes: string;
  close(): Promise<void>;
}

/**
 * Starts the sandbox (tasks of ~100 ms), a fresh migrated database, a source topic of
 * `profile-change.v1` events and the service on them, with imports flushed every 200 ms; `env`
 * adds to or overrides the service's settings. `close` stops and drops all of it.
 */
export async function startSandboxPipeline(label: string, env: Record<string, string> = {}): Promise<SandboxPipeline> {
  const sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 100, taskMsPerRow: 0.01, taskPendingMs: 20, logLevel: 'silent' });
  const database = await migratedDatabase(label.replace(/[^a-z0-9]/gi, '_'));
  const changes = uniqueName(`${label}.changes`);
  let sut: INestApplication | undefined;
  const close = async () => {
    await sut?.close();
    await sandbox.close();
    await database.drop();
  };
  try {
    await createTopics([{ topic: changes }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${changes}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName(label),
        DLQ_TOPIC: uniqueName(`${label}.dlq`),
        CAAC_BASE_URL: sandbox.url,
        FLUSH_INTERVAL_MS: '200',
        ...env,
      }),
    );
  } catch (error) {
    await close();
    throw error;
  }
  return { sandbox, db: database.client, sut, base: (await sut.getUrl()).replace('[::1]', '127.0.0.1'), changes, close };
}
