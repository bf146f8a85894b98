import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { LOGGER } from '../common/nest-logger';
import type { Logger } from '../common/logger';
import { checkAutovacuum } from './autovacuum-check';
import { createDataSource, runMigrations } from './data-source';
import { assertSchemaReady, databaseName } from './schema-check';

/** The Postgres pool, for every repository of the service. */
@Global()
@Module({
  providers: [
    {
      provide: DataSource,
      inject: [APP_CONFIG, LOGGER],
      useFactory: async (config: AppConfig, logger: Logger) => {
        const dataSource = createDataSource({ url: config.database.url, poolMax: config.database.poolMax });
        await dataSource.initialize();
        if (config.database.migrateOnStart) {
          const applied = await runMigrations(dataSource, {
            onWait: () => logger.info('another instance is applying migrations; waiting for it to finish'),
          });
          logger.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
        }
        await assertSchemaReady(dataSource, databaseName(config.database.url)).catch(async (error: Error) => {
          await dataSource.destroy();
          throw error;
        });
        // A check, never a reason not to start: the warning is for the operator.
        const warning = await checkAutovacuum(dataSource).catch(() => undefined);
        if (warning) logger.warn(warning);
        return dataSource;
      },
    },
  ],
  exports: [DataSource],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
