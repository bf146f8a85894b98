import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../migrations';

/** The table TypeORM records applied migrations in; named so it is obviously this service's. */
export const MIGRATIONS_TABLE = 'caac_sync_migrations';
/** A statement that runs longer than this is cancelled rather than holding locks indefinitely. */
const STATEMENT_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 5_000;

export interface DataSourceOptions {
  url: string;
  poolMax?: number;
  applicationName?: string;
}

/** The service's Postgres connection pool. Schema changes only ever come from migrations. */
export function createDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    extra: {
      max: options.poolMax ?? 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: options.applicationName ?? 'caac-sync',
    },
  });
}

/** Applies every pending migration; returns the names applied. */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const applied = await dataSource.runMigrations({ transaction: 'each' });
  return applied.map((migration) => migration.name);
}
