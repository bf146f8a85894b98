import type { DataSource } from 'typeorm';
import { VacuumSettings1796010000000 } from '../../src/migrations/1796010000000-vacuum-settings';
import { checkAutovacuum } from '../../src/store/autovacuum-check';
import { migratedDataSource } from '../support/database';

describe(VacuumSettings1796010000000.name, () => {
  let dataSource: DataSource;
  let drop: () => Promise<void>;

  async function reloptions(table: string): Promise<string[]> {
    const [row] = await dataSource.query(`SELECT coalesce(reloptions, '{}') AS options FROM pg_class WHERE relname = $1 AND relkind = 'r'`, [table]);
    return row.options;
  }

  beforeAll(async () => {
    ({ dataSource, drop } = await migratedDataSource('vacuum_settings'));
  });

  afterAll(async () => {
    await drop?.();
  });

  it('gives the queues and contact_state autovacuum thresholds of their own, and takes them back down', async () => {
    await expect(reloptions('pending_change')).resolves.toEqual(['autovacuum_vacuum_scale_factor=0.02', 'autovacuum_vacuum_threshold=5000']);
    await expect(reloptions('import_batch_item')).resolves.toEqual(['autovacuum_vacuum_scale_factor=0', 'autovacuum_vacuum_threshold=10000']);
    await expect(reloptions('contact_state')).resolves.toEqual(['autovacuum_vacuum_scale_factor=0.05']);

    const runner = dataSource.createQueryRunner();
    try {
      await new VacuumSettings1796010000000().down(runner);
      await expect(reloptions('pending_change')).resolves.toEqual([]);
      await expect(reloptions('contact_state')).resolves.toEqual([]);
      await new VacuumSettings1796010000000().up(runner);
    } finally {
      await runner.release();
    }
  });

  it('warns when autovacuum will not run on a churned table, whatever the server says', async () => {
    const [{ server }] = await dataSource.query(`SELECT current_setting('autovacuum') AS server`);
    const serverOff = server === 'off';

    await expect(checkAutovacuum(dataSource)).resolves.toEqual(serverOff ? expect.stringContaining('on this Postgres server') : undefined);
    await dataSource.query(`ALTER TABLE contact_state SET (autovacuum_enabled = false)`);
    try {
      await expect(checkAutovacuum(dataSource)).resolves.toEqual(expect.stringContaining('contact_state'));
      if (!serverOff) await expect(checkAutovacuum(dataSource)).resolves.toMatch(/^autovacuum is off for contact_state: /);
    } finally {
      await dataSource.query(`ALTER TABLE contact_state RESET (autovacuum_enabled)`);
    }
  });
});
