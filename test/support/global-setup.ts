import { obtainInfrastructure, type TestInfrastructure } from './infrastructure';

declare global {
  // Shared between jest's globalSetup and globalTeardown, which run in the same process.
  var __CAAC_SYNC_INFRA__: TestInfrastructure | undefined;
}

/**
 * Obtains a Kafka broker and a fresh Postgres database for the integration and e2e projects and
 * hands them to the test workers through the environment. A missing broker or database fails the
 * run loudly: nothing is skipped.
 */
export default async function globalSetup(): Promise<void> {
  if (globalThis.__CAAC_SYNC_INFRA__) return; // integration and e2e share one set-up per run
  try {
    const infra = await obtainInfrastructure();
    globalThis.__CAAC_SYNC_INFRA__ = infra;
    process.env.TEST_KAFKA_BROKERS = infra.kafkaBrokers;
    process.env.TEST_DATABASE_URL = infra.databaseUrl;
    process.env.TEST_ADMIN_DATABASE_URL = infra.adminDatabaseUrl;
  } catch (error) {
    throw new Error(
      `The tests need a Kafka broker and Postgres and could not obtain them: ${(error as Error).message}\n` +
        'Start them with `npm run kafka:start` and the machine\'s Postgres, or set KAFKA_BROKERS and DATABASE_URL.',
    );
  }
}
