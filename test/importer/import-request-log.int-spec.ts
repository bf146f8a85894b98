import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { ImportRequestLogRepository, IMPORT_REQUEST_LOG_KEEP_MS } from '../../src/importer/import-request-log.repository';
import { migratedDataSource } from '../support/database';

describe(ImportRequestLogRepository.name, () => {
  let db: Client;
  let dataSource: DataSource;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await migratedDataSource('import_request_log');
    db = database.client;
    dataSource = database.dataSource;
    drop = database.drop;
  });

  afterAll(async () => {
    await drop?.();
  });

  beforeEach(async () => {
    await db.query(`TRUNCATE import_request_log`);
  });

  /** A request of `account` recorded `ageMs` ago by the database's clock. */
  async function aRecordedRequest(account: string, ageMs: number): Promise<void> {
    await db.query(`INSERT INTO import_request_log (account, sent_at) VALUES ($1, now() - make_interval(secs => $2::float8 / 1000))`, [account, ageMs]);
  }

  it('records a request with the database clock, before it is sent', async () => {
    const sut = new ImportRequestLogRepository(dataSource, 'acme');

    await sut.record();

    const { rows } = await db.query(`SELECT account, now() - sent_at < interval '5 seconds' AS recent FROM import_request_log`);
    expect(rows).toEqual([{ account: 'acme', recent: true }]);
  });

  it('reads the ages of the account’s requests within the window, oldest first, by the database clock', async () => {
    const sut = new ImportRequestLogRepository(dataSource, 'acme');
    for (const ageMs of [70_000, 40_000, 5_000]) await aRecordedRequest('acme', ageMs);
    await aRecordedRequest('other-account', 1_000);

    const ages = await sut.agesWithin(61_350);

    // Ages grow by the few ms between the inserts and the read, never by a service clock.
    expect(ages.map((age) => Math.floor(age / 1_000))).toEqual([40, 5]);
    expect(ages[0]).toBeGreaterThanOrEqual(40_000);
  });

  it('prunes the account’s records older than the keep time when it records', async () => {
    const sut = new ImportRequestLogRepository(dataSource, 'acme');
    await aRecordedRequest('acme', IMPORT_REQUEST_LOG_KEEP_MS + 60_000);
    await aRecordedRequest('acme', IMPORT_REQUEST_LOG_KEEP_MS - 60_000);
    await aRecordedRequest('other-account', IMPORT_REQUEST_LOG_KEEP_MS + 60_000);

    await sut.record();

    const { rows } = await db.query(`SELECT account, round(extract(epoch FROM now() - sent_at) / 60)::int AS minutes FROM import_request_log ORDER BY sent_at`);
    expect(rows).toEqual([
      { account: 'other-account', minutes: 61 },
      { account: 'acme', minutes: 59 },
      { account: 'acme', minutes: 0 },
    ]);
  });
});
