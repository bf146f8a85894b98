/**
 * The real CDC chain: a CRM table in Postgres -> Debezium in a Kafka Connect worker
 * (docker/connect.sh) -> Kafka, read back with kafkajs and decoded with the project's mapping
 * (config/customers.mapping.json). Run once with the JSON converter's schema wrapper and once
 * without, each with its own database, worker, slot, publication and topic.
 *
 * The tests of one chain run in order and build on each other: snapshot, then changes, then
 * decoding what was read, then a fresh snapshot.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { applyCrmSchema, seedCustomers } from '../../scripts/crm/crm-generator';
import { createDebeziumDecoder, parseDebeziumMapping, type DecodeResult } from '../../src/ingest/decoders';
import { cdcConnector, deleteTopics, waitForTopic, type CdcConnector } from '../support/cdc-chain';
import { freshDatabase } from '../support/database';
import { testKafka } from '../support/service';

const REPO = resolve(__dirname, '../..');
const MAPPING_FILE = 'config/customers.mapping.json';
const EVENTS_TIMEOUT_MS = 30_000;
const CLOCK_SLACK_MS = 1_000; // Postgres and this process share a clock; allow for rounding
const SEED = 42; // C-000001 has a tier, C-000002 an e-mail address (checked below)

type Json = Record<string, any>;

interface ChainEvent {
  offset: number;
  key: Json | null;
  value: Json | null;
  raw: Buffer | null;
}

/** Reads `topic` from the start until `count` messages arrived; fails after `timeoutMs`. */
async function readEvents(topic: string, count: number, timeoutMs = EVENTS_TIMEOUT_MS): Promise<ChainEvent[]> {
  await waitForTopic(topic, timeoutMs);
  const consumer = testKafka().consumer({ groupId: `cdc-chain-reader-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  const events: ChainEvent[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`read ${events.length} of ${count} events from ${topic} within ${timeoutMs} ms`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message }) => {
          events.push({
            offset: Number(message.offset),
            key: message.key ? JSON.parse(message.key.toString()) : null,
            value: message.value ? JSON.parse(message.value.toString()) : null,
            raw: message.value,
          });
          if (events.length >= count) {
            clearTimeout(timer);
            done();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return events.sort((a, b) => a.offset - b.offset);
}

async function highWatermark(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [partition, ...others] = await admin.fetchTopicOffsets(topic);
    expect(others).toHaveLength(0); // one partition per table keeps a row's changes in order
    return Number(partition!.high);
  } finally {
    await admin.disconnect();
  }
}

/** Days since the epoch, as Debezium sends a DATE column. */
function epochDays(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / 86_400_000;
}

async function customerRow(db: Client, id: string): Promise<Json> {
  const { rows } = await db.query(
    `SELECT customer_id, first_name, last_name, email, mobile, to_char(birthday, 'YYYY-MM-DD') AS birthday, gender, tier,
            points, opt_in_sms, updated_at FROM customers WHERE customer_id = $1`,
    [id],
  );
  return rows[0]!;
}

/** A DB row as Debezium puts it in `before`/`after` (updated_at compared separately). */
function asDebeziumRow(row: Json): Json {
  const { updated_at: _updatedAt, birthday, ...rest } = row;
  return { ...rest, birthday: birthday === null ? null : epochDays(birthday) };
}

function expectRow(image: Json, row: Json): void {
  const { updated_at: updatedAt, ...columns } = image;
  expect(columns).toEqual(asDebeziumRow(row));
  // ZonedTimestamp: ISO-8601 text in UTC, microseconds kept (trailing zeros may be dropped).
  expect(updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/);
  expect(Date.parse(updatedAt)).toBe((row.updated_at as Date).getTime());
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; from: number; to: number }> {
  const from = Date.now();
  const result = await work();
  return { result, from, to: Date.now() };
}

describe.each([{ schemas: false }, { schemas: true }])('Debezium chain, value.converter.schemas.enable=$schemas', ({ schemas }) => {
  let chain: CdcConnector;
  let topic: string;
  let topicPrefix: string;
  const mapping = parseDebeziumMapping(JSON.parse(readFileSync(resolve(REPO, MAPPING_FILE), 'utf8')), MAPPING_FILE);
  const decoder = createDebeziumDecoder(mapping, { defaultPhoneRegion: 'TW', maxFutureSkewMs: 86_400_000 });
  const decode = (value: Buffer | null): DecodeResult => decoder(value, Date.now());
  let db: Client;
  let dropDatabase: (() => Promise<void>) | undefined;
  const seeded: Json[] = [];
  let changes: ChainEvent[] = [];
  const times: Record<string, { from: number; to: number }> = {};

  /** The Debezium envelope of an event, with or without the schema wrapper. */
  const envelope = (event: ChainEvent): Json => {
    if (!schemas) {
      expect(event.value).not.toHaveProperty('schema');
      return event.value!;
    }
    expect(Object.keys(event.value!).sort()).toEqual(['payload', 'schema']);
    return event.value!.payload;
  };
  const keyOf = (event: ChainEvent): Json => (schemas ? event.key!.payload : event.key!);

  beforeAll(async () => {
    const database = await freshDatabase(`crm_chain_${schemas ? 's' : 'n'}`);
    dropDatabase = database.drop;
    db = new Client({ connectionString: database.url });
    await db.connect();
    await applyCrmSchema(db);
    await expect(seedCustomers(db, 3, SEED)).resolves.toMatchObject({ inserted: 3, total: 3 });
    for (const id of ['C-000001', 'C-000002', 'C-000003']) seeded.push(await customerRow(db, id));
    expect(seeded[0]!.tier).not.toBeNull();
    expect(seeded[1]!.email).not.toBeNull();

    chain = await cdcConnector({ databaseUrl: database.url, label: schemas ? 's' : 'n', schemas });
    ({ topic, topicPrefix } = chain);
    await chain.run('start');
  });

  afterAll(async () => {
    await chain?.reset(); // the slot first: it blocks dropping the database
    await db?.end();
    await dropDatabase?.();
    if (topic) await deleteTopics([topic]);
  });

  it('snapshots the seeded rows as op "r" events: no before, the row in after', async () => {
    const events = await readEvents(topic, 3);

    expect(events.map((e) => keyOf(e))).toEqual(seeded.map((row) => ({ customer_id: row.customer_id })));
    events.forEach((event, i) => {
      const payload = envelope(event);
      expect(payload).toMatchObject({ op: 'r', before: null });
      expectRow(payload.after, seeded[i]!);
      expect(payload.source).toMatchObject({ connector: 'postgresql', name: topicPrefix, schema: 'public', table: 'customers' });
      expect(['first', 'true', 'last', 'first_in_data_collection', 'last_in_data_collection']).toContain(payload.source.snapshot);
      expect(typeof payload.source.ts_ms).toBe('number');
      expect(typeof payload.ts_ms).toBe('number');
    });
  });

  it('streams updates, an insert and a delete as "u", "c" and "d" events with complete before images', async () => {
    const [c1, c2] = [seeded[0]!.customer_id as string, seeded[1]!.customer_id as string];
    times.u1 = await timed(() =>
      db.query(`UPDATE customers SET email = ' Amy.Lin@Example.COM ', mobile = '0912-345-678', tier = NULL, updated_at = now() WHERE customer_id = $1`, [c1]),
    );
    times.u2 = await timed(() => db.query(`UPDATE customers SET email = upper(trim(email)) || '  ', updated_at = now() WHERE customer_id = $1`, [c2]));
    times.u3 = await timed(() => db.query(`UPDATE customers SET updated_at = now() WHERE customer_id = $1`, [c2]));
    times.c = await timed(() =>
      db.query(
        `INSERT INTO customers (customer_id, first_name, last_name, email, mobile, birthday, gender, tier, points, opt_in_sms)
         VALUES ('C-000100', '美玲', '林', 'Mei.Lin@Example.com ', '+886 912 345 678', '1990-04-01', 'F', 'Gold', 120, true)`,
      ),
    );
    times.d = await timed(() => db.query(`DELETE FROM customers WHERE customer_id = 'C-000003'`));

    // 3 snapshot reads, 3 updates, 1 insert, 1 delete and its tombstone.
    changes = (await readEvents(topic, 9)).slice(3);
    await expect(highWatermark(topic)).resolves.toBe(9);

    const [u1, u2, u3, c, d, tombstone] = changes.map((event) => (event.value === null ? null : envelope(event)));
    expect([u1, u2, u3, c, d].map((p) => p!.op)).toEqual(['u', 'u', 'u', 'c', 'd']);
    expect(changes.map((e) => keyOf(e).customer_id)).toEqual([c1, c2, c2, 'C-000100', 'C-000003', 'C-000003']);

    expectRow(u1!.before, seeded[0]!); // REPLICA IDENTITY FULL: the whole old row
    expectRow(u1!.after, await customerRow(db, c1));
    expect(u1!.after).toMatchObject({ email: ' Amy.Lin@Example.COM ', mobile: '0912-345-678', tier: null });
    expect(u2!.after.email).toBe(`${(seeded[1]!.email as string).trim().toUpperCase()}  `);
    expect(u3!.before.email).toBe(u3!.after.email);
    expect(c!.before).toBeNull();
    expect(c!.after).toMatchObject({ customer_id: 'C-000100', first_name: '美玲', birthday: epochDays('1990-04-01'), points: 120, opt_in_sms: true });
    expectRow(d!.before, seeded[2]!);
    expect(d!.after).toBeNull();
    expect(tombstone).toBeNull(); // tombstones.on.delete: a null value after the delete

    // source.ts_ms is the commit time of each change.
    ([['u1', u1], ['u2', u2], ['u3', u3], ['c', c], ['d', d]] as const).forEach(([name, payload]) => {
      expect(payload!.source.snapshot).toBe('false');
      expect(payload!.source.ts_ms).toBeGreaterThanOrEqual(times[name]!.from - CLOCK_SLACK_MS);
      expect(payload!.source.ts_ms).toBeLessThanOrEqual(times[name]!.to + CLOCK_SLACK_MS);
    });
  });

  if (schemas) {
    it('wraps key and value with the JSON converter schema, naming the logical types', () => {
      const [u1] = changes;
      expect(u1!.key).toEqual({
        schema: { type: 'struct', optional: false, name: `${topic}.Key`, fields: [{ field: 'customer_id', type: 'string', optional: false }] },
        payload: { customer_id: 'C-000001' },
      });
      const schema = u1!.value!.schema;
      expect(schema).toMatchObject({ type: 'struct', name: `${topic}.Envelope` });
      expect(schema.fields.map((f: Json) => f.field)).toEqual(expect.arrayContaining(['before', 'after', 'source', 'op', 'ts_ms']));
      const after = schema.fields.find((f: Json) => f.field === 'after');
      const column = (name: string) => after.fields.find((f: Json) => f.field === name);
      expect(after.name).toBe(`${topic}.Value`);
      expect(column('birthday')).toMatchObject({ type: 'int32', name: 'io.debezium.time.Date', optional: true });
      expect(column('updated_at')).toMatchObject({ type: 'string', name: 'io.debezium.time.ZonedTimestamp', optional: false });
      expect(column('points')).toMatchObject({ type: 'int32', optional: false });
      expect(column('opt_in_sms')).toMatchObject({ type: 'boolean', optional: false });
    });
  }

  it(`decodes the changes with ${MAPPING_FILE} into field-level patches`, () => {
    const sourceTs = (event: ChainEvent) => envelope(event).source.ts_ms as number;
    const results = changes.map((event) => decode(event.raw));
    const c2Email = (seeded[1]!.email as string).trim().toLowerCase();

    expect(results).toEqual<DecodeResult[]>([
      {
        kind: 'change',
        change: {
          key: { type: 'customer_id', value: 'C-000001' },
          patch: { display_email: 'amy.lin@example.com', display_mobile: '+886912345678', member_level: null },
          sourceTs: sourceTs(changes[0]!),
        },
      },
      // Only the spelling changed; the ingest's no-op check, not the decoder, drops the equal value.
      { kind: 'change', change: { key: { type: 'customer_id', value: 'C-000002' }, patch: { display_email: c2Email }, sourceTs: sourceTs(changes[1]!) } },
      { kind: 'skip', reason: 'no mapped column changed' },
      {
        kind: 'change',
        change: {
          key: { type: 'customer_id', value: 'C-000100' },
          patch: {
            cl_custom_first_name: '美玲',
            cl_custom_last_name: '林',
            display_email: 'mei.lin@example.com',
            display_mobile: '+886912345678',
            birthday: '1990-04-01',
            gender: 'female',
            member_level: 'gold',
            cl_custom_points: 120,
            cl_custom_opt_in_sms: 'true',
          },
          sourceTs: sourceTs(changes[3]!),
        },
      },
      { kind: 'skip', reason: 'delete ignored (delete_policy ignore)' },
      { kind: 'skip', reason: 'tombstone (null value)' },
    ]);
  });

  it('follows an update of a key column that is not the primary key: the whole row under the new key', async () => {
    // The same table keyed by e-mail: changing the e-mail is a "u" event (customer_id, the primary
    // key, stays), and the contact is a new one for CAAC. A primary-key change would be "d" + "c".
    const byEmail = parseDebeziumMapping(
      { ...JSON.parse(readFileSync(resolve(REPO, MAPPING_FILE), 'utf8')), keys: [{ column: 'email', type: 'display_email' }] },
      'by-email.mapping.json',
    );
    const decodeByEmail = createDebeziumDecoder(byEmail, { defaultPhoneRegion: 'TW', maxFutureSkewMs: 86_400_000 });
    const from = await highWatermark(topic);
    await db.query(`UPDATE customers SET email = 'mei.new@example.com' WHERE customer_id = 'C-000100'`);

    // Put the e-mail back, so that the resnapshot below reads the row as the insert left it.
    await db.query(`UPDATE customers SET email = 'Mei.Lin@Example.com ' WHERE customer_id = 'C-000100'`);

    const [update] = (await readEvents(topic, from + 2)).slice(from);
    expect(envelope(update!)).toMatchObject({ op: 'u', before: { email: 'Mei.Lin@Example.com ' }, after: { email: 'mei.new@example.com' } });

    expect(decodeByEmail(update!.raw, Date.now())).toEqual({
      kind: 'change',
      change: {
        key: { type: 'display_email', value: 'mei.new@example.com' },
        patch: {
          customer_id: 'C-000100',
          cl_custom_first_name: '美玲',
          cl_custom_last_name: '林',
          display_mobile: '+886912345678',
          birthday: '1990-04-01',
          gender: 'female',
          member_level: 'gold',
          cl_custom_points: 120,
          cl_custom_opt_in_sms: 'true',
        },
        sourceTs: envelope(update!).source.ts_ms,
        keyChanged: { from: 'display_email' },
      },
    });
    // Keyed by customer_id, the same event is an ordinary change of one field.
    expect(decode(update!.raw)).toEqual({
      kind: 'change',
      change: { key: { type: 'customer_id', value: 'C-000100' }, patch: { display_email: 'mei.new@example.com' }, sourceTs: envelope(update!).source.ts_ms },
    });
  });

  it('resnapshot publishes every current row again as op "r" events', async () => {
    const from = await highWatermark(topic);
    await chain.run('resnapshot');

    const events = (await readEvents(topic, from + 3)).slice(from);
    await expect(highWatermark(topic)).resolves.toBe(from + 3);
    expect(events.map((e) => keyOf(e).customer_id)).toEqual(['C-000001', 'C-000002', 'C-000100']);
    for (const event of events) {
      const payload = envelope(event);
      expect(payload.op).toBe('r');
      expectRow(payload.after, await customerRow(db, payload.after.customer_id));
    }
    const inserted = decode(events[2]!.raw);
    expect(inserted).toMatchObject({ kind: 'change', change: { patch: (decode(changes[3]!.raw) as Json).change.patch } });
  });
});
