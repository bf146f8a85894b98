import type { DataSource } from 'typeorm';
import { MIGRATIONS } from '../migrations';
import { MIGRATIONS_TABLE } from './data-source';

/** What to do about a schema that is behind the code: the two ways the service's migrations are applied. */
const HOW_TO_MIGRATE = 'run `npm run migration:run` or set `MIGRATE_ON_START=true` (with this DATABASE_URL)';

/** The database lacks the service's tables, or migrations this build needs: the service cannot start. */
export class SchemaNotReadyError extends Error {
  readonly code = 'schema_not_ready';
  constructor(message: string) {
    super(message);
    this.name = 'SchemaNotReadyError';
  }
}

/**
 * Stops start-up with a message that says what to do when the database has none of the service's
 * tables, or misses a migration this build relies on. Without it, the service would start and then
 * loop on `relation "…" does not exist` in ingest, the importer's election and staging retries.
 * Migrations newer than this build (a rolling upgrade's older instance) are no reason to stop.
 */
export async function assertSchemaReady(dataSource: DataSource, database: string): Promise<void> {
  const [{ present }]: Array<{ present: boolean }> = await dataSource.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [MIGRATIONS_TABLE]);
  if (!present) {
    throw new SchemaNotReadyError(`database ${database} has none of the service's tables (no ${MIGRATIONS_TABLE} table): ${HOW_TO_MIGRATE}`);
  }
  const rows: Array<{ name: string }> = await dataSource.query(`SELECT name FROM ${MIGRATIONS_TABLE}`);
  const applied = new Set(rows.map((row) => row.name));
  const missing = MIGRATIONS.map((migration) => new migration().name ?? migration.name).filter((name) => !applied.has(name));
  if (missing.length > 0) {
    throw new SchemaNotReadyError(`database ${database} lacks ${missing.length} of the service's migrations (${missing.join(', ')}): ${HOW_TO_MIGRATE}`);
  }
}

/** The database's name from its URL, for messages: never its user or password. */
export function databaseName(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.pathname.replace(/^\//, '') || '(default)'} on ${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}`;
  } catch {
    return '(the one DATABASE_URL names)';
  }
}
