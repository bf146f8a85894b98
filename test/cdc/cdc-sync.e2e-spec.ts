/**
 * The real chain, end to end: a CRM database's customers table -> Debezium in Kafka Connect
 * (docker/connect.sh) -> the broker -> the service (in this process) -> the CAAC sandbox. What CAAC
 * ends up holding is checked against the CRM table itself, mapped to CAAC fields here, without the
 * service's decoder.
 *
 * The tests run in order and build on each other: a snapshot and a burst of changes imported, then
 * a fresh snapshot of the unchanged table that must cost no import.
 */
import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { INestApplication } from '@nestjs/common';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { Client } from 'pg';
import { aCustomer, applyCrmSchema, churn, seedCustomers, type ChurnSummary, type Customer } from '../../scripts/crm/crm-generator';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { cdcConnector, deleteTopics, type CdcConnector } from '../support/cdc-chain';
import { freshDatabase, migrate } from '../support/database';
import { highWatermarks } from '../support/kafka-io';
import { apiRuleViolations, sandboxContacts, sandboxLog, type SandboxRequest } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { waitFor } from '../support/wait-for';

// TRICKY: docker/connect.sh has the connector create its topics with one partition; created here
// first with three, the events spread over partitions by their key (customer_id), as in production.
const PARTITIONS = 3;
const WINDOW_MS = 4_000; // the API's minute, scaled
const PER_WINDOW = 15;
const MAX_ROWS = 150; // small, so that the backlog takes several imports
const FLUSH_MS = 1_000;
const SEEDED = 300;
const CHANGES = 3_000;
const SEED = 6;
const CHAIN_TIMEOUT_MS = 60_000; // Debezium publishing what the CRM did, the service staging it
const DRAIN_TIMEOUT_MS = 60_000;
const MAPPING_FILE = resolve(__dirname, '../../config/customers.mapping.json');
const PHONE_REGION = 'TW';

type Contact = Record<string, unknown>;

const CAAC_GENDER = { M: 'male', F: 'female', O: 'other' } as const;

function e164(mobile: string): string | undefined {
  const parsed = parsePhoneNumberFromString(mobile, PHONE_REGION);
  return parsed?.isValid() ? parsed.number : undefined;
}

/** A CRM row as CAAC should hold it (config/customers.mapping.json); a NULL column is absent. */
function asCaacContact(row: Customer): Contact {
  const fields: Array<[string, unknown]> = [
    ['customer_id', row.customer_id],
    ['cl_custom_first_name', row.first_name],
    ['cl_custom_last_name', row.last_name],
    ['display_email', row.email?.trim().toLowerCase() ?? null],
    ['display_mobile', row.mobile === null ? null : e164(row.mobile)],
    ['birthday', row.birthday],
    ['gender', row.gender === null ? null : CAAC_GENDER[row.gender]],
    ['member_level', row.tier?.toLowerCase() ?? null],
    ['cl_custom_points', row.points],
    ['cl_custom_opt_in_sms', String(row.opt_in_sms)],
  ];
  return Object.fromEntries(fields.filter(([, value]) => value !== null));
}

async function crmRows(db: Client): Promise<Map<string, Customer>> {
  const { rows } = await db.query<Customer>(
    `SELECT customer_id, first_name, last_name, email, mobile, to_char(birthday, 'YYYY-MM-DD') AS birthday, gender, tier, points, opt_in_sms
       FROM customers ORDER BY customer_id`,
  );
  return new Map(rows.map((row) => [row.customer_id, row]));
}

/** The CRM as the test knows it: the live rows, and the last row of every customer it ever held. */
interface CrmModel {
  live: Map<string, Customer>;
  /** Live rows, and each deleted customer's last row before its delete (what CAAC keeps under `ignore`). */
  last: Map<string, Customer>;
}

function modelOf(rows: Map<string, Customer>): CrmModel {
  return { live: new Map(rows), last: new Map(rows) };
}

/**
 * The model after `burst` (what churn did, in order). TRICKY: churn's insert operations hold the
 * row as later updates left it, not as inserted; the inserted row is the generator's customer
 * number n for the burst's seed.
 */
function replay(model: CrmModel, burst: Pick<ChurnSummary, 'operations' | 'seed'>): CrmModel {
  const live = new Map(model.live);
  const last = new Map(model.last);
  for (const operation of burst.operations) {
    if (operation.op === 'delete') {
      live.delete(operation.customer_id);
      continue;
    }
    const row =
      operation.op === 'insert'
        ? { ...aCustomer(burst.seed, Number(operation.customer_id.slice('C-'.length))), customer_id: operation.customer_id }
        : { ...live.get(operation.customer_id)!, ...operation.set };
    live.set(operation.customer_id, row);
    last.set(operation.customer_id, row);
  }
  return { live, last };
}

/** What the CAAC sandbox must hold for the CRM `model`. */
function expectedContacts(model: CrmModel): Map<string, Contact> {
  return new Map([...model.last].map(([id, row]) => [id, asCaacContact(row)]));
}

/**
 * Contacts whose CAAC contact `burst` changed at least once, and how many operations changed
 * one (an insert, or an update that changes a mapped field's CAAC value).
 */
function caacChanges(model: CrmModel, burst: ChurnSummary): { contacts: number; changes: number } {
  const before = expectedContacts(model);
  const current = new Map(before);
  const touched = new Set<string>();
  let changes = 0;
  let live = model;
  for (const operation of burst.operations) {
    live = replay(live, { operations: [operation], seed: burst.seed });
    if (operation.op === 'delete') continue;
    const contact = asCaacContact(live.live.get(operation.customer_id)!);
    if (!isDeepStrictEqual(contact, current.get(operation.customer_id))) {
      changes++;
      current.set(operation.customer_id, contact);
    }
    touched.add(operation.customer_id);
  }
  const contacts = [...touched].filter((id) => !isDeepStrictEqual(current.get(id), before.get(id))).length;
  return { contacts, changes };
}

/** Every mobile number `burst` wrote. */
function mobilesOf(burst: ChurnSummary): string[] {
  return burst.operations
    .flatMap((o) => (o.op === 'update' ? [o.set] : o.op === 'insert' ? [aCustomer(burst.seed, Number(o.customer_id.slice('C-'.length)))] : []))
    .map((row) => row.mobile)
    .filter((mobile): mobile is string => typeof mobile === 'string');
}

/** Events Debezium publishes for `burst`: one per insert and update; a delete and its tombstone per delete. */
const eventsOf = (burst: ChurnSummary): number => burst.inserts + burst.updates + 2 * burst.deletes;

const sum = (offsets: Map<number, bigint>): number => [...offsets.values()].reduce((total, high) => total + Number(high), 0);
const isImportPost = (request: SandboxRequest): boolean => request.method === 'POST' && request.path.endsWith('/member/import');

describe('CRM table to CAAC through Debezium, end to end', () => {
  let sandbox: RunningSandbox;
  let service: INestApplication | undefined;
  let db: Client; // the service's database
  let crm: Client;
  let chain: CdcConnector;
  const drops: Array<() => Promise<void>> = [];
  const dlq = uniqueName('e2e.cdc.dlq');
  let env: Record<string, string>;
  let model: CrmModel;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, rateWindowMs: WINDOW_MS, ratePerWindow: PER_WINDOW, taskMinMs: 150, taskMsPerRow: 0.5, taskPendingMs: 20 });

    const database = await freshDatabase('e2e_cdc_sync');
    drops.push(database.drop);
    await migrate(database.url);
    db = new Client({ connectionString: database.url });
    await db.connect();

    const crmDatabase = await freshDatabase('e2e_cdc_crm');
    drops.push(crmDatabase.drop);
    crm = new Client({ connectionString: crmDatabase.url });
    await crm.connect();
    await applyCrmSchema(crm);
    await expect(seedCustomers(crm, SEEDED, SEED)).resolves.toMatchObject({ inserted: SEEDED, total: SEEDED });

    chain = await cdcConnector({ databaseUrl: crmDatabase.url, label: 'sync' });
    await createTopics([{ topic: chain.topic, partitions: PARTITIONS }, { topic: dlq }]);
    env = {
      DATABASE_URL: database.url,
      SOURCE_TOPICS: `${chain.topic}:debezium:${MAPPING_FILE}`,
      KAFKA_GROUP_ID: uniqueName('e2e-cdc'),
      DLQ_TOPIC: dlq,
      CAAC_BASE_URL: sandbox.url,
      CAAC_RATE_WINDOW_MS: String(WINDOW_MS),
      CAAC_IMPORT_RATE_PER_MIN: String(PER_WINDOW),
      CAAC_IMPORT_MAX_ROWS: String(MAX_ROWS),
      FLUSH_INTERVAL_MS: String(FLUSH_MS),
      CAAC_REQUEST_TIMEOUT_MS: '5000',
    };
  });

  afterAll(async () => {
    // Every step runs even when one fails; the slot goes before its database.
    const steps = [
      () => service?.close(),
      () => sandbox?.close(),
      () => chain?.reset(),
      () => crm?.end(),
      () => db?.end(),
      ...drops,
      () => deleteTopics(chain ? [chain.topic, dlq] : [dlq]),
    ];
    const failures: unknown[] = [];
    for (const step of steps) await Promise.resolve(step()).catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  });

  /** Until the topic holds `count` events in all, then exactly that many. */
  async function published(count: number): Promise<void> {
    const seen = await waitFor(
      `${count} events in ${chain.topic}`,
      async () => {
        const n = sum(await highWatermarks(chain.topic));
        return n >= count ? n : undefined;
      },
      { timeoutMs: CHAIN_TIMEOUT_MS, intervalMs: 250 },
    );
    expect(seen).toBe(count);
  }

  /** Until the service has stored, with its staged changes, the offset after every event. */
  const stagedEverything = () => waitUntilStaged(db, chain.topic, CHAIN_TIMEOUT_MS);
  const drained = () => waitUntilImported(db, DRAIN_TIMEOUT_MS);

  it('ends with CAAC holding every customer as the CRM last had it, under the API rules, in the fewest imports', async () => {
    const seeded = await crmRows(crm);
    expect(seeded.size).toBe(SEEDED);

    // Stage everything first (importer off), so the backlog is known when imports start.
    service = await startService(testConfig({ ...env, IMPORTER_ENABLED: 'false' }));
    await chain.run('start');
    // TRICKY: a snapshot event's source time is when the snapshot read the row, which can be later
    // than a change committed while the snapshot ran; the changes start once it is published.
    await published(SEEDED);
    expect([...(await highWatermarks(chain.topic)).values()].every((high) => high > 0n)).toBe(true); // keys spread

    const burst = await churn(crm, CHANGES, SEED);
    expect(burst).toMatchObject({ requested: CHANGES });
    expect(burst.updates).toBeGreaterThan(2_000);
    expect(burst.nulls).toBeGreaterThan(0);
    expect(burst.email_respellings).toBeGreaterThan(0);
    expect(burst.deletes).toBeGreaterThan(0);
    expect(burst.inserts).toBeGreaterThan(0);
    expect(new Set(burst.operations.filter((o) => o.op === 'update').map((o) => o.customer_id)).size).toBeGreaterThan(200);

    // The model: the replayed CRM must be the table as it is.
    model = replay(modelOf(seeded), burst);
    expect(model.live).toEqual(await crmRows(crm));
    // Every mobile the CRM ever held is a valid TW number, so no event is dead-lettered.
    const mobiles = [...[...seeded.values()].map((row) => row.mobile).filter((m): m is string => m !== null), ...mobilesOf(burst)];
    expect(mobiles.filter((mobile) => e164(mobile) === undefined)).toEqual([]);
    expect(new Set(mobiles.map((mobile) => mobile.replace(/\d/g, '9'))).size).toBeGreaterThanOrEqual(4); // several formats

    await published(SEEDED + eventsOf(burst));
    await stagedEverything();
    await service.close();
    service = undefined;
    expect(sum(await highWatermarks(dlq))).toBe(0);

    // Every customer the CRM ever held is one pending contact.
    const { rows: pending } = await db.query(`SELECT key_type, count(*)::int AS n FROM pending_change GROUP BY key_type`);
    const contacts = SEEDED + burst.inserts;
    expect(pending).toEqual([{ key_type: 'customer_id', n: contacts }]);

    service = await startService(testConfig(env));
    await drained();

    const expected = expectedContacts(model);
    expect(expected.size).toBe(model.live.size + burst.deletes);
    const held = await sandboxContacts(sandbox.url);
    expect(held.size).toBe(expected.size);
    for (const [id, contact] of expected) expect([id, held.get(id)]).toEqual([id, contact]);

    const log = await sandboxLog(sandbox.url);
    expect(apiRuleViolations(log, { windowMs: WINDOW_MS, perWindow: PER_WINDOW, maxRows: MAX_ROWS })).toEqual([]);
    // The bound: every pending contact was staged before the importer started, so full batches of
    // MAX_ROWS carry them all; a partial batch would be a wasted call.
    const imports = log.tasks.filter((t) => t.kind === 'import');
    expect(imports.length).toBeLessThanOrEqual(Math.ceil(contacts / MAX_ROWS));
    expect(imports.every((t) => t.success)).toBe(true);
    expect(imports.reduce((rows, t) => rows + t.rows, 0)).toBe(contacts);
    expect(log.requests.filter((r) => isImportPost(r) && r.status !== 202)).toEqual([]);
  });

  it('keeps CAAC in step with a second burst of changes while the importer runs, sending only what CAAC lacks', async () => {
    expect(service).toBeDefined(); // the first test left the service running, its backlog imported
    const before = (await sandboxLog(sandbox.url)).tasks.filter((t) => t.kind === 'import').length;
    const from = sum(await highWatermarks(chain.topic));

    const burst = await churn(crm, CHANGES, SEED + 1);
    expect(burst.nulls).toBeGreaterThan(0);
    expect(burst.deletes).toBeGreaterThan(0);
    const changed = caacChanges(model, burst);
    model = replay(model, burst);
    expect(model.live).toEqual(await crmRows(crm));
    expect(mobilesOf(burst).filter((mobile) => e164(mobile) === undefined)).toEqual([]);

    await published(from + eventsOf(burst));
    await stagedEverything();
    await drained();
    expect(sum(await highWatermarks(dlq))).toBe(0);

    const held = await sandboxContacts(sandbox.url);
    const expected = expectedContacts(model);
    expect(held.size).toBe(expected.size);
    for (const [id, contact] of expected) expect([id, held.get(id)]).toEqual([id, contact]);

    const log = await sandboxLog(sandbox.url);
    expect(apiRuleViolations(log, { windowMs: WINDOW_MS, perWindow: PER_WINDOW, maxRows: MAX_ROWS })).toEqual([]);
    const imports = log.tasks.filter((t) => t.kind === 'import').slice(before);
    expect(imports.every((t) => t.success)).toBe(true);
    // The bounds: every contact CAAC now holds differently is in some import; a contact is in an
    // import only for a change CAAC does not have yet, so no more rows than such changes (an
    // update that only re-spells an e-mail, or sets a column to its value, costs nothing), and
    // full batches are no more than those rows allow.
    const rows = imports.reduce((total, t) => total + t.rows, 0);
    expect(changed.contacts).toBeGreaterThan(MAX_ROWS);
    expect(rows).toBeGreaterThanOrEqual(changed.contacts);
    expect(rows).toBeLessThanOrEqual(changed.changes);
    expect(imports.length).toBeGreaterThanOrEqual(Math.ceil(changed.contacts / MAX_ROWS));
    expect(imports.filter((t) => t.rows === MAX_ROWS).length).toBeLessThanOrEqual(Math.floor(changed.changes / MAX_ROWS));
  });

  it('makes no import request for a fresh snapshot of the unchanged table', async () => {
    expect(service).toBeDefined(); // the first test left the service running, its backlog imported
    const before = (await sandboxLog(sandbox.url)).requests.filter(isImportPost).length;
    const from = sum(await highWatermarks(chain.topic));
    const { rows } = await crm.query(`SELECT count(*)::int AS n FROM customers`);

    await chain.run('resnapshot');
    await published(from + (rows[0].n as number));
    await stagedEverything();
    // Past the flush interval, the importer has looked at everything the snapshot staged.
    await new Promise((done) => setTimeout(done, FLUSH_MS * 3));
    await drained();

    const log = await sandboxLog(sandbox.url);
    expect(log.requests.filter(isImportPost).slice(before)).toEqual([]);
    await expect(sandboxContacts(sandbox.url)).resolves.toEqual(expectedContacts(model));
    expect(sum(await highWatermarks(dlq))).toBe(0);
  });
});
