import { loadConfig, type AppConfig } from '../../src/config/app-config';

/** A valid configuration whose only source topics are `sourceTopics`, for tests of one class. */
export function testConfigFor(sourceTopics: string): AppConfig {
  return loadConfig({
    KAFKA_BROKERS: '127.0.0.1:9092',
    SOURCE_TOPICS: sourceTopics,
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
    CAAC_BASE_URL: 'http://127.0.0.1:4010',
    CAAC_API_KEY: 'sandbox-key',
    ADMIN_TOKEN: 'test-admin-token-0123456789',
  });
}
