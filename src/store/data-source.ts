import { DataSource, MigrationExecutor, type QueryRunner } from 'typeorm';
import { MIGRATIONS } from '../migrations';

/** The table TypeORM records applied migrations in; named so it is obviously this service's. */
export const MIGRATIONS_TABLE = 'caac_sync_migrations';
/** A statement that runs longer than this is cancelled rather than holding locks indefinitely. */
const STATEMENT_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * The driver gives up on a query after this, a little after the server's statement timeout: the
 * server cancels a slow statement, this catches a connection that died without a word (a
 * firewall dropping it, a server gone), where the server can cancel nothing.
 */
const QUERY_TIMEOUT_MARGIN_MS = 5_000;
/**
 * TCP keepalive after this much idle time, so that a pooled connection a firewall or NAT silently
 * dropped is found out by the kernel, not by the next query waiting on it.
 */
export const PG_KEEPALIVE_INITIAL_DELAY_MS = 10_000;
/**
 * A transaction left idle this long (a process stuck between two statements, e.g. on a Kafka send)
 * is ended by the server, so it cannot hold row locks and the vacuum horizon for ever.
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

/**
 * The session advisory lock every migration run holds, so that replicas starting together (or a
 * `npm run migration:run` during a rollout) apply each migration once: the others wait, then find
 * nothing pending. Session-level, on the connection that migrates: a process that dies releases it.
 */
export const MIGRATION_LOCK_SQL = `hashtext('caac-sync.migrations')`;
/** How often a run waiting for the migration lock asks again: a start-up wait, a second is fine. */
const MIGRATION_LOCK_POLL_MS = 500;

export interface DataSourceOptions {
  url: string;
  poolMax?: number;
  applicationName?: string;
  /** The server cancels a statement running longer [60 s]. */
  statementTimeoutMs?: number;
  /** A caller waits this long for a connection, free or new [5 s]. */
  connectTimeoutMs?: number;
}

/** The service's Postgres connection pool. Schema changes only ever come from migrations. */
export function createDataSource(options: DataSourceOptions): DataSource {
  const statementTimeoutMs = options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS;
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
      connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + Math.min(QUERY_TIMEOUT_MARGIN_MS, statementTimeoutMs),
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: PG_KEEPALIVE_INITIAL_DELAY_MS,
      application_name: options.applicationName ?? 'caac-sync',
    },
  });
}

export interface MigrationLockEvents {
  /** Another process holds the migration lock; this one waits for it. */
  onWait?: () => void;
}

/**
 * Runs `work` on one connection holding the migration lock. TRICKY: the executor must migrate on
 * that same connection: a pool of one (the test and CLI pools) would otherwise wait on itself.
 */
async function underMigrationLock<T>(dataSource: DataSource, events: MigrationLockEvents, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  try {
    // Polled rather than a blocking pg_advisory_lock: the wait lasts as long as the other run's
    // migrations, which the statement and query timeouts of this pool would cut short.
    for (let attempt = 0; ; attempt++) {
      const [{ locked }]: Array<{ locked: boolean }> = await runner.query(`SELECT pg_try_advisory_lock(${MIGRATION_LOCK_SQL}) AS locked`);
      if (locked) break;
      if (attempt === 0) events.onWait?.();
      await new Promise((resolve) => setTimeout(resolve, MIGRATION_LOCK_POLL_MS));
    }
    try {
      return await work(runner);
    } finally {
      // A broken connection has lost the lock already; the unlock must not hide the real error.
      await runner.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_SQL})`).catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

/** Applies every pending migration under the migration lock; returns the names applied. */
export async function runMigrations(dataSource: DataSource, events: MigrationLockEvents = {}): Promise<string[]> {
  return underMigrationLock(dataSource, events, async (runner) => {
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    const applied = await executor.executePendingMigrations();
    return applied.map((migration) => migration.name);
  });
}

/** Undoes the last applied migration under the migration lock. */
export async function undoLastMigration(dataSource: DataSource, events: MigrationLockEvents = {}): Promise<void> {
  await underMigrationLock(dataSource, events, async (runner) => {
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    await executor.undoLastMigration();
  });
}
