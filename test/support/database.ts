import { Client } from 'pg';
import type { DataSource, MigrationInterface } from 'typeorm';
import { MIGRATIONS } from '../../src/migrations';
import { createDataSource, runMigrations } from '../../src/store/data-source';
import { replaceDatabase, withAdmin } from './infrastructure';

/**
 * A database of its own for one test file, on the server the global setup obtained, dropped by the
 * returned `drop`. Test files never share tables.
 */
export async function freshDatabase(label: string): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const admin = process.env.TEST_ADMIN_DATABASE_URL;
  if (!admin) throw new Error('TEST_ADMIN_DATABASE_URL is not set: run this test through the integration project');
  const name = `caac_sync_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${Date.now()}_${process.pid}`;
  await withAdmin(admin, (client) => client.query(`CREATE DATABASE "${name}"`));
  return {
    url: replaceDatabase(admin, name),
    name,
    drop: async () => {
      await withAdmin(admin, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/** Applies every migration to the database at `url`. */
export async function migrate(url: string): Promise<void> {
  const dataSource = createDataSource({ url, poolMax: 1 });
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * A fresh database with every migration applied and a connected client for the test's own queries;
 * `drop` closes the client and drops the database.
 */
export async function migratedDatabase(label: string): Promise<{ url: string; name: string; client: Client; drop: () => Promise<void> }> {
  const database = await freshDatabase(label);
  await migrate(database.url);
  const client = new Client({ connectionString: database.url });
  await client.connect();
  return {
    ...database,
    client,
    drop: async () => {
      await client.end();
      await database.drop();
    },
  };
}

/**
 * Brings a connected data source to the schema just before `migration`: every migration applied,
 * then the later ones and `migration` itself undone. Returns the names that a `runMigrations`
 * call applies again from there, oldest first.
 */
export async function migrateToJustBefore(dataSource: DataSource, migration: new () => MigrationInterface): Promise<string[]> {
  const index = (MIGRATIONS as ReadonlyArray<new () => MigrationInterface>).indexOf(migration);
  if (index < 0) throw new Error(`${migration.name} is not in MIGRATIONS`);
  await runMigrations(dataSource);
  for (let undo = MIGRATIONS.length - index; undo > 0; undo--) await dataSource.undoLastMigration({ transaction: 'each' });
  return MIGRATIONS.slice(index).map((later) => new later().name!);
}

/**
 * `migratedDatabase` with a TypeORM data source on it as well, for tests of repositories; `drop`
 * closes both and drops the database.
 */
export async function migratedDataSource(
  label: string,
  poolMax = 2,
): Promise<{ url: string; client: Client; dataSource: DataSource; drop: () => Promise<void> }> {
  const database = await migratedDatabase(label);
  const dataSource = createDataSource({ url: database.url, poolMax });
  await dataSource.initialize();
  return {
    url: database.url,
    client: database.client,
    dataSource,
    drop: async () => {
      await dataSource.destroy();
      await database.drop();
    },
  };
}
