import type { INestApplication } from '@nestjs/common';
import { Kafka, logLevel } from 'kafkajs';
import { createApp } from '../../src/app.factory';
import { loadConfig, type AppConfig } from '../../src/config/app-config';
import { createLogger, type Logger } from '../../src/common/logger';

export const TEST_API_KEY = 'sandbox-key';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

/** A name no other test run uses, for topics and consumer groups. */
export function uniqueName(label: string): string {
  return `${label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

export function testKafka(): Kafka {
  const brokers = process.env.TEST_KAFKA_BROKERS;
  if (!brokers) throw new Error('TEST_KAFKA_BROKERS is not set: run this test through the integration or e2e project');
  return new Kafka({ clientId: 'caac-sync-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
}

export async function createTopics(topics: Array<{ topic: string; partitions?: number; config?: Record<string, string> }>): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions ?? 1,
        configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
  } finally {
    await admin.disconnect();
  }
}

/** The service's configuration for a test, from the test infrastructure plus overrides. */
export function testConfig(env: Record<string, string>): AppConfig {
  return loadConfig({
    KAFKA_BROKERS: process.env.TEST_KAFKA_BROKERS,
    CAAC_BASE_URL: 'http://127.0.0.1:4010',
    CAAC_API_KEY: TEST_API_KEY,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
}

/** Starts the whole service in this process, listening on a free port. */
export async function startService(config: AppConfig, logger: Logger = createLogger({ level: config.logLevel })): Promise<INestApplication> {
  const app = await createApp(config, logger, { port: 0, host: '127.0.0.1' });
  return app;
}
