import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { freshDatabase } from '../support/database';
import { deleteTopics } from '../support/cdc-chain';
import { canListen, freePort } from '../support/free-port';
import { highWatermarks, readTopic } from '../support/kafka-io';
import { waitFor } from '../support/wait-for';

const CONNECT_SCRIPT = resolve(__dirname, '../../docker/connect.sh');
const START_TIMEOUT_MS = 180_000; // a first start fetches Connect and Debezium
jest.setTimeout(8 * 60_000);

/** Runs docker/connect.sh with exactly `env` (and PATH, HOME): no variable leaks in from the test's own environment. */
function connect(command: string, env: Record<string, string>, timeoutMs = 90_000): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile('bash', [CONNECT_SCRIPT, command], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: timeoutMs }, (error, _stdout, stderr) => {
      done({ code: typeof error?.code === 'number' ? error.code : error ? -1 : 0, stderr });
    });
  });
}

/**
 * docker/connect.sh started with settings of its own (a table that is not the demo's, its own slot,
 * publication, topic prefix, connector name and port) is then operated without repeating them.
 */
describe('docker/connect.sh with custom settings', () => {
  let crm: { url: string; name: string; drop: () => Promise<void> };
  let db: Client;
  let settings: Record<string, string>;
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const slot = `cdc_settings_${suffix}`;
  const publication = `cdc_settings_pub_${suffix}`;
  const prefix = `cdcsettings_${suffix}`;

  beforeAll(async () => {
    crm = await freshDatabase('connect_settings');
    db = new Client({ connectionString: crm.url });
    await db.connect();
    await db.query(`CREATE TABLE public.members (member_no text PRIMARY KEY, mail text, level text)`);
    await db.query(`INSERT INTO public.members VALUES ('M-1', 'amy@example.com', 'Gold')`);
    // Another deployment's publication of the same name: reset must leave it alone.
    await db.query(`CREATE PUBLICATION ${publication} FOR TABLE public.members`);
    settings = {
      CRM_DATABASE_URL: crm.url,
      CDC_TABLES: 'public.members',
      CDC_TOPIC_PREFIX: prefix,
      CDC_SLOT: slot,
      CDC_PUBLICATION: publication,
      CONNECT_NAME: `cdc-settings-${suffix}`,
      CONNECT_PORT: String(await freePort()),
      CONNECT_KAFKA_BROKERS: process.env.TEST_KAFKA_BROKERS!,
      CONNECT_START_TIMEOUT_S: '90',
    };
  });

  afterAll(async () => {
    // Whatever happened above: the worker stopped and the slot gone before the database goes.
    await connect('reset', settings);
    await db?.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [slot]).catch(() => undefined);
    await db?.end();
    await crm?.drop();
    await deleteTopics([`${prefix}.public.members`]);
  });

  const slotExists = async () => (await db.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot])).rowCount === 1;
  const publicationExists = async () => (await db.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication])).rowCount === 1;

  it('refuses a CDC_TABLES typo before creating anything, naming the tables there are', async () => {
    const run = await connect('start', { ...settings, CDC_TABLES: 'public.membrs' });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('connect: CDC_TABLES: public.membrs not found in database');
    expect(run.stderr).toContain('(its tables: public.members); nothing was created');
    await expect(slotExists()).resolves.toBe(false);
    await expect(canListen(Number(settings.CONNECT_PORT))).resolves.toBe(true);
  });

  it('starts on the custom table, then answers status without the settings again', async () => {
    const started = await connect('start', settings, START_TIMEOUT_MS);
    expect(started).toMatchObject({ code: 0 });
    // Connect creates the topic as it snapshots: its partition may not be served the moment start returns.
    await waitFor('the snapshot topic to be served', async () => ([...(await highWatermarks(`${prefix}.public.members`).catch(() => new Map()))].some(([, high]) => high > 0n) ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const [event] = await readTopic(`${prefix}.public.members`, 1);
    expect(JSON.parse(event!.value!.toString())).toMatchObject({ op: 'r', after: { member_no: 'M-1', level: 'Gold' } });

    const status = await connect('status', {});

    expect(status.code).toBe(0);
    expect(status.stderr).toContain(`acting on the deployment started on port ${settings.CONNECT_PORT}`);
    expect(status.stderr).toContain(`cdc-settings-${suffix}: connector RUNNING, task 0 RUNNING`);
  });

  it('resets that deployment without the settings again: its slot dropped, the publication it did not create left alone', async () => {
    const reset = await connect('reset', {});

    expect(reset.code).toBe(0);
    expect(reset.stderr).toContain(`replication slot ${slot} dropped`);
    expect(reset.stderr).toContain(`publication ${publication} was not created by this deployment's start; left alone`);
    await expect(slotExists()).resolves.toBe(false);
    await expect(publicationExists()).resolves.toBe(true);
    await expect(canListen(Number(settings.CONNECT_PORT))).resolves.toBe(true);
    // Nothing is remembered any more: status is about the default deployment, which is not running.
    await expect(connect('status', {})).resolves.toMatchObject({ code: 1 });
  });
});
