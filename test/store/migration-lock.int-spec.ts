import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../src/migrations';
import { createDataSource, MIGRATION_LOCK_SQL, MIGRATIONS_TABLE, runMigrations } from '../../src/store/data-source';
import { freshDatabase } from '../support/database';

const MIGRATE_CLI = resolve(__dirname, '../../dist/store/migrate.cli.js');
const ALL = MIGRATIONS.map((migration) => new migration().name);

function migrateCli(url: string): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [MIGRATE_CLI, 'up'], { env: { PATH: process.env.PATH, DATABASE_URL: url }, timeout: 120_000 }, (error, stdout, stderr) =>
      done({ code: typeof error?.code === 'number' ? error.code : error ? -1 : 0, output: stdout + stderr }),
    );
  });
}

async function appliedOnce(url: string): Promise<Array<{ name: string; n: number }>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT name, count(*)::int AS n FROM ${MIGRATIONS_TABLE} GROUP BY name ORDER BY min(id)`);
    return rows;
  } finally {
    await client.end();
  }
}

describe('migrations under the migration lock', () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  async function emptyDatabase(label: string): Promise<string> {
    const database = await freshDatabase(label);
    cleanups.push(database.drop);
    return database.url;
  }

  async function dataSourceOn(url: string, poolMax: number): Promise<DataSource> {
    const dataSource = createDataSource({ url, poolMax });
    await dataSource.initialize();
    cleanups.push(() => dataSource.destroy());
    return dataSource;
  }

  it('apply each migration once when three runs start together on an empty database', async () => {
    const url = await emptyDatabase('migration_lock_three');
    const runs = await Promise.all([1, 1, 2].map(async (poolMax) => runMigrations(await dataSourceOn(url, poolMax))));

    // One run applies everything; the others wait for it and find nothing pending.
    expect(runs.map((applied) => applied.length).sort((a, b) => a - b)).toEqual([0, 0, ALL.length]);
    await expect(appliedOnce(url)).resolves.toEqual(ALL.map((name) => ({ name, n: 1 })));
  });

  it('wait, saying so, while another session holds the lock, and go on once it is released', async () => {
    const url = await emptyDatabase('migration_lock_wait');
    const holder = new Client({ connectionString: url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK_SQL})`);
    const sut = await dataSourceOn(url, 1);
    let waited = 0;

    const run = runMigrations(sut, { onWait: () => waited++ });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await holder.query(`SELECT to_regclass($1) AS table`, [MIGRATIONS_TABLE]);
    await holder.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_SQL})`);

    await expect(run).resolves.toEqual(ALL);
    expect(before.rows).toEqual([{ table: null }]);
    expect(waited).toBe(1);
  });

  it('release the lock when a migration run fails, so the next run is not blocked', async () => {
    const url = await emptyDatabase('migration_lock_failure');
    const sut = await dataSourceOn(url, 1);
    // A table the first migration creates, there already: the first migration fails.
    await sut.query(`CREATE TABLE pending_change (x int)`);

    await expect(runMigrations(sut)).rejects.toThrow(/already exists/);
    await sut.query(`DROP TABLE pending_change`);
    await expect(runMigrations(sut)).resolves.toEqual(ALL);
  });

  it('`npm run migration:run` started three times at once: every run succeeds, each migration applied once', async () => {
    const url = await emptyDatabase('migration_lock_cli');

    const runs = await Promise.all([migrateCli(url), migrateCli(url), migrateCli(url)]);

    expect(runs.map((run) => run.code)).toEqual([0, 0, 0]);
    await expect(appliedOnce(url)).resolves.toEqual(ALL.map((name) => ({ name, n: 1 })));
  });
});
