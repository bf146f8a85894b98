import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { PipelineStatsRepository } from '../../src/ops/pipeline-stats.repository';
import { migratedDataSource } from '../support/database';

describe(`${PipelineStatsRepository.name} exports`, () => {
  let db: Client;
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  let sut: PipelineStatsRepository;

  beforeAll(async () => {
    ({ client: db, dataSource, drop } = await migratedDataSource('pipeline_stats_exports'));
    sut = new PipelineStatsRepository(dataSource);
  });

  afterAll(async () => {
    await drop?.();
  });

  const anExport = (account: string, status: string, requestedAgo: string) =>
    db.query(`INSERT INTO export_job (account, status, target, requested_at) VALUES ($1, $2, 'table', now() - $3::interval)`, [account, status, requestedAgo]);

  it('knows no export before the first one ended', async () => {
    await anExport('acme', 'running', '1 minute');

    await expect(sut.exports('acme')).resolves.toEqual({ newestCompleteAgeSeconds: null, lastEndedFailed: null, held: false });
  });

  it('reads the newest complete export by the database clock, and whether the newest that ended failed, for one account', async () => {
    await anExport('acme', 'done', '3 hours');
    await anExport('acme', 'done', '2 hours');
    await anExport('acme', 'failed', '1 hour');
    await anExport('other', 'done', '1 minute');

    const failed = await sut.exports('acme');
    expect(failed.lastEndedFailed).toBe(true);
    expect(failed.newestCompleteAgeSeconds).toBeGreaterThanOrEqual(7_200);
    expect(failed.newestCompleteAgeSeconds).toBeLessThan(7_260);

    await anExport('acme', 'expired', '30 minutes');
    await expect(sut.exports('acme')).resolves.toMatchObject({ lastEndedFailed: true });
    await anExport('acme', 'done', '10 minutes');
    const delivered = await sut.exports('acme');
    expect(delivered.lastEndedFailed).toBe(false);
    expect(delivered.newestCompleteAgeSeconds).toBeGreaterThanOrEqual(600);
    expect(delivered.newestCompleteAgeSeconds).toBeLessThan(660);
  });
});
