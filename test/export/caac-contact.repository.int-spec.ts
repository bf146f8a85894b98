import { Readable } from 'node:stream';
import { Pool } from 'pg';
import { CaacContactRepository, deploymentTag, MirrorAccountError } from '../../src/export/caac-contact.repository';
import { loadExportFile } from '../../src/export/export-file.loader';
import { freshDatabase } from '../support/database';

describe(CaacContactRepository.name, () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  let sut: CaacContactRepository;

  beforeAll(async () => {
    const database = await freshDatabase('caac_contact_repository');
    drop = database.drop;
    pool = new Pool({ connectionString: database.url, max: 3 });
    sut = new CaacContactRepository(pool, deploymentTag('brand-a', 'postgres://svc@db-a:5432/sync'));
    await sut.ensureSchema('brand-a');
  });

  afterAll(async () => {
    await pool?.end();
    await drop?.();
  });

  const stage = (repository: CaacContactRepository, jobId: string, ids: string[]) =>
    loadExportFile(repository, jobId, Readable.from([`contact_id,customer_id\r\n${ids.map((id) => `${id},C-${id}\r\n`).join('')}`]), new AbortController().signal);

  it('binds the mirror to the first account and refuses another, naming both', async () => {
    const other = new CaacContactRepository(pool, deploymentTag('brand-b', 'postgres://svc@db-b:5432/sync'));

    const refusal = other.ensureSchema('brand-b');

    await expect(refusal).rejects.toBeInstanceOf(MirrorAccountError);
    await expect(refusal).rejects.toThrow('mirrors CAAC account "brand-a", and this service is configured for "brand-b" (CAAC_ACCOUNT)');
    await expect(sut.ensureSchema('brand-a')).resolves.toBeUndefined();
  });

  it('keeps the staging tables of two deployments sharing the export database apart, job ids alike', async () => {
    const otherDeployment = new CaacContactRepository(pool, deploymentTag('brand-a', 'postgres://svc@db-b:5432/sync'));

    await stage(sut, '1', ['a1', 'a2']);
    await stage(otherDeployment, '1', ['b1']);

    await expect(sut.stagedCount('1')).resolves.toBe(2);
    await expect(otherDeployment.stagedCount('1')).resolves.toBe(1);
    await expect(otherDeployment.dropStagingExcept([])).resolves.toEqual(['1']);
    await expect(sut.stagedCount('1')).resolves.toBe(2);
  });

  it('pages tombstones through an index in byte order, never a scan of the topic\'s contacts per page', async () => {
    await pool.query(`INSERT INTO caac_contact_topic (contact_id) SELECT 'id-' || g FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING`);
    await pool.query('ANALYZE caac_contact_topic');
    await stage(sut, '2', ['id-1', 'id-2']);

    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT t.contact_id FROM caac_contact_topic t
        WHERE t.contact_id COLLATE "C" > 'id-5' AND NOT EXISTS (SELECT 1 FROM caac_contact_load_${deploymentTag('brand-a', 'postgres://svc@db-a:5432/sync')}_2 s WHERE s.contact_id = t.contact_id)
        ORDER BY t.contact_id COLLATE "C" LIMIT 1000`,
    );

    expect(rows.map((row) => row['QUERY PLAN']).join('\n')).toMatch(/Index Only Scan using caac_contact_topic_bytes/);
    await expect(sut.missingFromExport('2', '', 3)).resolves.toEqual(['id-10', 'id-100', 'id-1000']);
  });
});
