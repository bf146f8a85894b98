import type { INestApplication } from '@nestjs/common';
import { Pool, type Client } from 'pg';
import request from 'supertest';
import { CaacContactRepository } from '../../src/export/caac-contact.repository';
import { migratedDatabase } from '../support/database';
import { readTopic } from '../support/kafka-io';
import { createTopics, startService, testConfig, TEST_ADMIN_TOKEN, uniqueName } from '../support/service';

/** Every spelling of the person that must vanish: e-mail (any case), customer id, CAAC contact id. */
const TRACES = ['amy.lin', 'c-amy-1001', 'ct-amy'];

describe('POST /admin/contacts/:keyType/:keyValue/forget', () => {
  let sut: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;
  const exportTopic = uniqueName('forget.contacts');
  const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const forget = (keyType: string, keyValue: string) => request(sut.getHttpServer()).post(`/admin/contacts/${keyType}/${encodeURIComponent(keyValue)}/forget`).set(auth);

  /** Rows of every table of the database whose text (bytea read as text) holds one of TRACES. */
  async function traces(): Promise<Record<string, number>> {
    const { rows: tables } = await db.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    const found: Record<string, number> = {};
    for (const { name } of tables) {
      const { rows: columns } = await db.query<{ column_name: string; data_type: string }>(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`, [name]);
      const text = columns.map((column) => (column.data_type === 'bytea' ? `coalesce(encode("${column.column_name}", 'escape'), '')` : `coalesce("${column.column_name}"::text, '')`)).join(` || ' ' || `);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}" WHERE lower(${text}) ~ $1`, [TRACES.join('|').replace(/\./g, '\\.')]);
      if (rows[0]!.n > 0) found[name] = rows[0]!.n;
    }
    return found;
  }

  beforeAll(async () => {
    const database = await migratedDatabase('forget');
    db = database.client;
    drop = database.drop;
    const source = uniqueName('forget.changes');
    await createTopics([{ topic: source }, { topic: exportTopic, config: { 'cleanup.policy': 'compact' } }]);
    sut = await startService(
      testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${source}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('forget'), DLQ_TOPIC: uniqueName('forget.dlq'), IMPORTER_ENABLED: 'false', EXPORT_TOPIC: exportTopic }),
    );
    const pool = new Pool({ connectionString: database.url, max: 1 });
    await new CaacContactRepository(pool, 'f0f0f0').ensureSchema('default');
    await pool.end();
  });

  afterAll(async () => {
    await sut?.close();
    await drop?.();
  });

  /** Amy as every stage keeps her: staged by e-mail, imported by customer id, exported, drifted, dead-lettered; and Bob beside her. */
  async function seedAmyAndBob(): Promise<void> {
    const stamped = (value: string) => JSON.stringify({ display_name: { v: value, ts: 1, seq: 1 } });
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('display_email', 'amy.lin@example.com', $1), ('customer_id', 'C-BOB-2002', $2)`, [stamped('Amy'), stamped('Bob')]);
    await db.query(`INSERT INTO contact_state (key_type, key_value, fields) VALUES ('customer_id', 'C-AMY-1001', '{"city": {"h": "x", "ts": 1, "seq": 1}}'), ('customer_id', 'C-BOB-2002', '{}')`);
    await db.query(`INSERT INTO import_batch (id, account, key_type, status, rows) VALUES (1, 'default', 'customer_id', 'failed', 2)`);
    await db.query(`INSERT INTO import_batch_item (batch_id, key_value, fields) VALUES (1, 'C-AMY-1001', $1), (1, 'C-BOB-2002', $2)`, [stamped('Amy'), stamped('Bob')]);
    await db.query(`INSERT INTO contact_drift (export_id, key_type, key_value, field, caac_value) VALUES (1, 'display_email', 'amy.lin@example.com', 'display_name', 'Amie'), (1, 'customer_id', 'C-BOB-2002', 'city', 'Tainan')`);
    await db.query(
      `INSERT INTO dead_letter_outbox (stage, message_key, message, headers, published_at) VALUES
         ('import', convert_to('customer_id:C-AMY-1001', 'UTF8'), convert_to('{"company":"Forbidden Co"}', 'UTF8'), '{}', now()),
         ('validate', convert_to('crm-row-77', 'UTF8'), convert_to('{"key":{"customer_id":"crm-row-77"},"profile":{"display_email":"Amy.Lin@Example.com","gender":"x"}}', 'UTF8'), '{}', NULL),
         ('validate', convert_to('crm-row-78', 'UTF8'), convert_to('{"key":{"customer_id":"C-BOB-2002"},"profile":{"gender":"x"}}', 'UTF8'), '{}', NULL)`,
    );
    await db.query(
      `INSERT INTO caac_contact (contact_id, fields, export_id, exported_at) VALUES
         ('ct-amy', '{"customer_id": "C-AMY-1001", "display_email": "Amy.Lin@Example.com", "display_name": "Amy"}', 1, now()),
         ('ct-bob', '{"customer_id": "C-BOB-2002", "display_name": "Bob"}', 1, now())`,
    );
    await db.query(`INSERT INTO caac_contact_topic (contact_id) VALUES ('ct-amy'), ('ct-bob')`);
    await db.query(
      `INSERT INTO contact_identity (key_type, key_value, contact_id, export_id) VALUES
         ('customer_id', 'C-AMY-1001', 'ct-amy', 1), ('display_email', 'amy.lin@example.com', 'ct-amy', 1), ('customer_id', 'C-BOB-2002', 'ct-bob', 1)`,
    );
    await db.query(`INSERT INTO contact_identity_untied (key_type, key_value, batch_id) VALUES ('display_email', 'amy.lin@example.com', 1)`);
  }

  it('erases the person under every key the export ties together, from every table, with a tombstone on the export topic; Bob stays', async () => {
    await seedAmyAndBob();
    expect(Object.keys(await traces()).sort()).toEqual([
      'caac_contact',
      'caac_contact_topic',
      'contact_drift',
      'contact_identity',
      'contact_identity_untied',
      'contact_state',
      'dead_letter_outbox',
      'import_batch_item',
      'pending_change',
    ]);

    const response = await forget('display_email', ' AMY.Lin@example.com').expect(200);

    expect(response.body).toEqual({
      keys: [
        { key_type: 'display_email', key_value: 'amy.lin@example.com' },
        { key_type: 'customer_id', key_value: 'C-AMY-1001' },
      ],
      contact_ids: ['ct-amy'],
      removed: { caac_contact: 1, pending_change: 1, contact_state: 1, contact_drift: 1, contact_identity: 2, contact_identity_untied: 1, import_batch_item: 1, dead_letter_outbox: 2 },
      export_topic_tombstones: 1,
      open_import_batches: [],
      export_running: false,
      complete: true,
      not_reached: expect.stringContaining('CAAC itself'),
    });
    await expect(traces()).resolves.toEqual({});
    const tombstones = await readTopic(exportTopic, 1);
    expect(tombstones.map((message) => [message.key?.toString(), message.value])).toEqual([['ct-amy', null]]);
    const bob = await db.query(
      `SELECT (SELECT count(*) FROM pending_change)::int AS pending, (SELECT count(*) FROM contact_state)::int AS state, (SELECT count(*) FROM import_batch_item)::int AS items,
              (SELECT count(*) FROM contact_drift)::int AS drift, (SELECT count(*) FROM dead_letter_outbox)::int AS letters,
              (SELECT count(*) FROM caac_contact)::int AS mirror, (SELECT count(*) FROM caac_contact_topic)::int AS topic`,
    );
    expect(bob.rows[0]).toEqual({ pending: 1, state: 1, items: 1, drift: 1, letters: 1, mirror: 1, topic: 1 });
  });

  it('is idempotent: forgetting again removes nothing and is complete', async () => {
    const response = await forget('customer_id', 'C-AMY-1001').expect(200);

    expect(response.body).toMatchObject({
      keys: [{ key_type: 'customer_id', key_value: 'C-AMY-1001' }],
      contact_ids: [],
      removed: { caac_contact: 0, pending_change: 0, contact_state: 0, contact_drift: 0, contact_identity: 0, contact_identity_untied: 0, import_batch_item: 0, dead_letter_outbox: 0 },
      export_topic_tombstones: 0,
      complete: true,
    });
  });

  it('leaves an open batch to the importer and says the erasure is incomplete until it ends', async () => {
    await db.query(`INSERT INTO import_batch (id, account, key_type, status, rows, task_id, submitted_at) VALUES (2, 'default', 'customer_id', 'submitted', 1, 'task-2', now())`);
    await db.query(`INSERT INTO import_batch_item (batch_id, key_value, fields) VALUES (2, 'C-CAT-3003', '{}')`);

    const response = await forget('customer_id', 'C-CAT-3003').expect(200);

    expect(response.body).toMatchObject({ open_import_batches: ['2'], complete: false, removed: { import_batch_item: 0 } });
    await expect(db.query(`SELECT key_value FROM import_batch_item WHERE batch_id = 2`)).resolves.toMatchObject({ rows: [{ key_value: 'C-CAT-3003' }] });
  });

  it('refuses a key it cannot read with a 400, and an unknown key type', async () => {
    await forget('display_email', 'not-an-address').expect(400);
    await forget('nickname', 'amy').expect(400);
  });
});

describe('forget with the export mirror in a database of its own (EXPORT_DATABASE_URL)', () => {
  let sut: INestApplication;
  let service: Client;
  let mirror: Client;
  let drops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    const serviceDatabase = await migratedDatabase('forget_service');
    const exportDatabase = await migratedDatabase('forget_export');
    service = serviceDatabase.client;
    mirror = exportDatabase.client;
    drops = [serviceDatabase.drop, exportDatabase.drop];
    const source = uniqueName('forget-split.changes');
    await createTopics([{ topic: source }]);
    sut = await startService(
      testConfig({ DATABASE_URL: serviceDatabase.url, EXPORT_DATABASE_URL: exportDatabase.url, SOURCE_TOPICS: `${source}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('forget-split'), DLQ_TOPIC: uniqueName('forget-split.dlq'), IMPORTER_ENABLED: 'false' }),
    );
    const pool = new Pool({ connectionString: exportDatabase.url, max: 1 });
    await new CaacContactRepository(pool, 'f0f0f0').ensureSchema('default');
    await pool.end();
  });

  afterAll(async () => {
    await sut?.close();
    for (const drop of drops) await drop();
  });

  it('finds the contact in the export database, erases it there, and its other keys in the service database', async () => {
    await mirror.query(`INSERT INTO caac_contact (contact_id, fields, export_id, exported_at) VALUES ('ct-dan', '{"line_uid": "U-dan", "customer_id": "C-DAN-4004"}', 1, now())`);
    await mirror.query(`INSERT INTO caac_contact_topic (contact_id) VALUES ('ct-dan')`);
    await service.query(`INSERT INTO contact_state (key_type, key_value, fields) VALUES ('customer_id', 'C-DAN-4004', '{}')`);

    const response = await request(sut.getHttpServer()).post('/admin/contacts/line_uid/U-dan/forget').set({ Authorization: `Bearer ${TEST_ADMIN_TOKEN}` }).expect(200);

    expect(response.body).toMatchObject({ contact_ids: ['ct-dan'], removed: { caac_contact: 1, contact_state: 1 }, export_topic_tombstones: 0, complete: true });
    await expect(mirror.query(`SELECT (SELECT count(*) FROM caac_contact)::int AS mirror, (SELECT count(*) FROM caac_contact_topic)::int AS topic`)).resolves.toMatchObject({ rows: [{ mirror: 0, topic: 0 }] });
    await expect(service.query(`SELECT count(*)::int AS n FROM contact_state`)).resolves.toMatchObject({ rows: [{ n: 0 }] });
  });
});
