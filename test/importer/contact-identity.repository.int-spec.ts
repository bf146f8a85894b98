import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { ContactIdentityRepository } from '../../src/importer/contact-identity.repository';
import { fieldHash, type StampedPatch } from '../../src/profile';
import { migratedDataSource } from '../support/database';
import { packedEntries } from '../support/contact-state-entries';

describe(ContactIdentityRepository.name, () => {
  let db: Client;
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  const sut = new ContactIdentityRepository();

  beforeAll(async () => {
    const database = await migratedDataSource('contact_identity');
    db = database.client;
    dataSource = database.dataSource;
    drop = database.drop;
  });

  afterAll(async () => {
    await drop();
  });

  beforeEach(async () => {
    await db.query(`TRUNCATE contact_identity, contact_identity_untied, contact_state, pending_change`);
  });

  async function tied(rows: Array<[string, string, string]>): Promise<void> {
    for (const [keyType, keyValue, contactId] of rows) {
      await db.query(`INSERT INTO contact_identity (key_type, key_value, contact_id, export_id) VALUES ($1, $2, $3, 1)`, [keyType, keyValue, contactId]);
    }
  }

  const aPatch = (fields: Record<string, { value: string | null; ts: number; seq: number }>): StampedPatch => fields as StampedPatch;

  it('gives the newest stamp per field through the other keys of a contact, sent or pending', async () => {
    await tied([
      ['customer_id', 'C-1', 'x1'],
      ['display_email', 'amy@example.com', 'x1'],
      ['line_uid', 'U-1', 'x1'],
    ]);
    await db.query(`INSERT INTO contact_state (key_type, key_value, fields) VALUES ('display_email', 'amy@example.com', $1), ('line_uid', 'U-1', $2)`, [
      packedEntries({ display_name: { h: fieldHash('Sent'), ts: 5, seq: 1 }, city: { h: fieldHash('Taipei'), ts: 9, seq: 0 } }),
      packedEntries({ city: { h: fieldHash('Tainan'), ts: 10, seq: 0 } }),
    ]);
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('display_email', 'amy@example.com', $1)`, [{ display_name: { v: 'Pending', ts: 7, seq: 2 } }]);

    const newest = await dataSource.transaction((tx) => sut.newestThroughOtherKeys(tx, 'customer_id', ['C-1', 'C-unknown']));

    expect([...newest.keys()]).toEqual(['C-1']);
    expect({ ...newest.get('C-1') }).toEqual({
      display_name: { hash: fieldHash('Pending'), ts: 7, seq: 2 },
      // Compared as numbers: 10 is newer than 9.
      city: { hash: fieldHash('Tainan'), ts: 10, seq: 0 },
    });
  });

  it('uses no key that reaches two contacts, nor one the service has moved', async () => {
    await tied([
      ['customer_id', 'C-1', 'x1'],
      ['display_email', 'shared@example.com', 'x1'],
      ['display_email', 'shared@example.com', 'x2'],
      ['customer_id', 'C-2', 'x3'],
      ['display_email', 'moved@example.com', 'x3'],
    ]);
    await db.query(`INSERT INTO contact_identity_untied (key_type, key_value, batch_id) VALUES ('display_email', 'moved@example.com', 1)`);
    await db.query(`INSERT INTO contact_state (key_type, key_value, fields) VALUES ('display_email', 'shared@example.com', $1), ('display_email', 'moved@example.com', $1)`, [
      packedEntries({ display_name: { h: fieldHash('Newer'), ts: 9, seq: 0 } }),
    ]);

    const newest = await dataSource.transaction((tx) => sut.newestThroughOtherKeys(tx, 'customer_id', ['C-1', 'C-2']));

    expect(newest.size).toBe(0);
  });

  it('unties a key value sent as a field of another key, and the old value of that contact, but not its own value', async () => {
    await tied([
      ['customer_id', 'C-1', 'x1'],
      ['display_email', 'old@example.com', 'x1'],
      ['customer_id', 'C-2', 'x2'],
      ['display_email', 'taken@example.com', 'x2'],
      ['customer_id', 'C-3', 'x3'],
      ['display_email', 'own@example.com', 'x3'],
    ]);

    await dataSource.transaction((tx) =>
      sut.untieMoved(tx, 'customer_id', '42', [
        { keyValue: 'C-1', fields: aPatch({ display_email: { value: ' Taken@Example.com', ts: 1, seq: 0 }, display_name: { value: 'Amy', ts: 1, seq: 0 } }) },
        { keyValue: 'C-3', fields: aPatch({ display_email: { value: 'own@example.com', ts: 1, seq: 0 } }) },
        { keyValue: 'C-4', fields: aPatch({ customer_id: { value: 'C-4', ts: 1, seq: 0 } }) },
      ]),
    );

    const { rows } = await db.query(`SELECT key_type, key_value, batch_id::text AS batch_id FROM contact_identity_untied ORDER BY key_value`);
    expect(rows).toEqual([
      { key_type: 'display_email', key_value: 'old@example.com', batch_id: '42' },
      { key_type: 'display_email', key_value: 'taken@example.com', batch_id: '42' },
    ]);
  });
});
