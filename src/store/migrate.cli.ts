import { createLogger } from '../common/logger';
import { createDataSource, runMigrations, undoLastMigration } from './data-source';
import { loadEnvFileOrExit } from '../config/env-file';

// Before anything reads the environment: settings in .env, under those already set.
loadEnvFileOrExit();

/**
 * `npm run migration:run` (up: every pending migration) and `npm run migration:revert` (down: the
 * last one). Needs only DATABASE_URL.
 */
async function main(direction: string | undefined): Promise<void> {
  const logger = createLogger({ name: 'caac-sync-migrate' });
  const url = process.env.DATABASE_URL;
  if (!url) {
    process.stderr.write('DATABASE_URL: is required (postgres://user@host:port/database)\n');
    process.exit(1);
  }
  if (direction !== 'up' && direction !== 'down') {
    process.stderr.write('usage: migrate.cli.js up|down\n');
    process.exit(2);
  }
  const dataSource = createDataSource({ url, poolMax: 2, applicationName: 'caac-sync-migrate' });
  await dataSource.initialize();
  try {
    // Under the same lock as MIGRATE_ON_START: safe while instances start.
    const onWait = () => logger.info('another process is applying migrations; waiting for it to finish');
    if (direction === 'up') {
      const applied = await runMigrations(dataSource, { onWait });
      logger.info({ applied }, applied.length ? 'migrations applied' : 'no pending migration');
    } else {
      await undoLastMigration(dataSource, { onWait });
      logger.info('last migration reverted');
    }
  } finally {
    await dataSource.destroy();
  }
}

main(process.argv[2]).catch((error: Error) => {
  process.stderr.write(`migration failed: ${error.message}\n`);
  process.exit(1);
});
