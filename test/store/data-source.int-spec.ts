import type { DataSource } from 'typeorm';
import { createProbeDataSource } from '../../src/ops/probe-data-source';
import { createDataSource } from '../../src/store/data-source';
import { freshDatabase } from '../support/database';

async function settingsOf(dataSource: DataSource): Promise<Record<string, string>> {
  const rows: Array<{ name: string; setting: string }> = await dataSource.query(
    `SELECT name, current_setting(name) AS setting FROM unnest(ARRAY['statement_timeout', 'idle_in_transaction_session_timeout', 'application_name']) AS name`,
  );
  return Object.fromEntries(rows.map((row) => [row.name, row.setting]));
}

describe('the service\'s Postgres pools', () => {
  let url: string;
  let drop: () => Promise<void>;
  const opened: DataSource[] = [];

  beforeAll(async () => {
    ({ url, drop } = await freshDatabase('pool_settings'));
  });

  afterAll(async () => {
    for (const dataSource of opened) await dataSource.destroy();
    await drop();
  });

  it('bound every statement and every idle transaction at the server, and keep connections alive', async () => {
    const sut = createDataSource({ url, poolMax: 1 });
    await sut.initialize();
    opened.push(sut);

    await expect(settingsOf(sut)).resolves.toEqual({ statement_timeout: '1min', idle_in_transaction_session_timeout: '1min', application_name: 'caac-sync' });
    // Client-side: TCP keepalive finds a connection a firewall dropped; the driver's own timeout
    // ends a query whose server went silent, where the server can cancel nothing.
    expect((sut.options as { extra: Record<string, unknown> }).extra).toMatchObject({ keepAlive: true, keepAliveInitialDelayMillis: 10_000, query_timeout: 65_000 });
  });

  it('end a transaction left idle past the limit, releasing its locks', async () => {
    const sut = createDataSource({ url, poolMax: 1 });
    await sut.initialize();
    opened.push(sut);
    const runner = sut.createQueryRunner();
    await runner.startTransaction();
    const [{ pid }] = await runner.query('SELECT pg_backend_pid() AS pid');
    // The service's limit is a minute; the mechanism is the same with a shorter one.
    await runner.query(`SET LOCAL idle_in_transaction_session_timeout = '200ms'`);
    await new Promise((resolve) => setTimeout(resolve, 600));

    // The server ended the session (the driver then drops the connection from the pool).
    await expect(runner.query('SELECT 1')).rejects.toThrow();
    await runner.release().catch(() => undefined);
    await expect(sut.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).resolves.toEqual([{ n: 0 }]);
  });

  it('give the probes a small pool whose statements the server cancels after 1.5 s', async () => {
    const sut = await createProbeDataSource(url);
    opened.push(sut);

    await expect(settingsOf(sut)).resolves.toEqual({ statement_timeout: '1500ms', idle_in_transaction_session_timeout: '1min', application_name: 'caac-sync-probe' });
    await expect(sut.query('SELECT pg_sleep(3)')).rejects.toThrow('canceling statement due to statement timeout');
  });
});
