import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli-process';

/** The command line reads `.env` from the directory it starts in, as the service does; the environment wins over it. */
describe('the command line and .env', () => {
  let directory: string;

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'caac-sync-env-'));
    writeFileSync(join(directory, '.env'), ['# settings of this deployment', 'HTTP_PORT=4321', 'DLQ_TOPIC="not a topic!"', ''].join('\n'));
  });

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('takes a setting from .env', async () => {
    const run = await runCli(['status', '--help'], {}, 60_000, directory);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\(default:\s+"http:\/\/127\.0\.0\.1:4321"\)/);
  });

  it('lets a variable already set win over .env', async () => {
    const run = await runCli(['status', '--help'], { HTTP_PORT: '5555' }, 60_000, directory);

    expect(run.stdout).toMatch(/\(default:\s+"http:\/\/127\.0\.0\.1:5555"\)/);
  });

  it('validates what .env says like any other setting', async () => {
    const run = await runCli(['status'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused', SOURCE_TOPICS: 'crm.changes:profile-change.v1' }, 60_000, directory);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('DLQ_TOPIC: must be a valid Kafka topic name');
  });
});
