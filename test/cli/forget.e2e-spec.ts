import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { runCli } from '../support/cli-process';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

describe('npm run cli -- forget', () => {
  let service: INestApplication | undefined;
  let db: Client;
  let drop: () => Promise<void>;
  let url: string;
  /** Only what `forget` uses: the admin token. No CAAC key, brokers, database or topics. */
  const onlyTheToken = { CAAC_API_KEY: '', CAAC_BASE_URL: '', KAFKA_BROKERS: '' };

  beforeAll(async () => {
    const database = await migratedDatabase('cli_forget');
    db = database.client;
    drop = database.drop;
    const source = uniqueName('cli-forget.changes');
    await createTopics([{ topic: source }]);
    service = await startService(testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${source}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('cli-forget'), IMPORTER_ENABLED: 'false' }));
    url = (await service.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await service?.close();
    await drop?.();
  });

  it('erases the person through the running service and prints what went, with nothing but ADMIN_TOKEN set', async () => {
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('display_mobile', '+886912345678', '{}')`);
    await db.query(`INSERT INTO contact_state (key_type, key_value, fields) VALUES ('display_mobile', '+886912345678', '{}')`);

    const run = await runCli(['forget', 'display_mobile', '0912-345-678', '--url', url], onlyTheToken);

    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout.split('\n').slice(0, 3)).toEqual([
      'forgot display_mobile +886912345678',
      'removed   caac_contact 0, pending_change 1, contact_state 1, contact_drift 0, contact_identity 0, contact_identity_untied 0, import_batch_item 0, dead_letter_outbox 0',
      'tombstones on the export topic: 0',
    ]);
    await expect(db.query(`SELECT count(*)::int AS n FROM pending_change`)).resolves.toMatchObject({ rows: [{ n: 0 }] });
  });

  it('exits 2 while an open import batch holds the person, saying to run it again', async () => {
    await db.query(`INSERT INTO import_batch (id, account, key_type, status, rows) VALUES (1, 'default', 'customer_id', 'claimed', 1)`);
    await db.query(`INSERT INTO import_batch_item (batch_id, key_value, fields) VALUES (1, 'C-1', '{}')`);

    const run = await runCli(['forget', 'customer_id', 'C-1', '--url', url, '--json'], onlyTheToken);

    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ open_import_batches: ['1'], complete: false });
  });

  it('refuses a plain-http --url to another machine before sending anything', async () => {
    const run = await runCli(['forget', 'customer_id', 'C-1', '--url', 'http://192.0.2.10:3000'], onlyTheToken);

    expect([run.code, run.stdout]).toEqual([1, '']);
    expect(run.stderr).toContain('--url http://192.0.2.10:3000 is plain http to another machine');
  });

  it('names the missing admin token, and nothing else', async () => {
    const run = await runCli(['forget', 'customer_id', 'C-1', '--url', url], { ...onlyTheToken, ADMIN_TOKEN: '' });

    expect([run.code, run.stderr.trim()]).toEqual([1, 'Invalid configuration:\n  ADMIN_TOKEN: is required (bearer token for /admin, at least 16 characters)']);
  });
});
