import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { ImportScheduler } from '../../src/importer/import-scheduler.service';
import { IMPORT_BODY_BUDGET_BYTES, rowBytes, toImportRow } from '../../src/importer/import-request';
import { fromStored } from '../../src/store/stored-patch';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';

const CONTACTS = 400;
const CUSTOM_FIELDS = 150;

/** A contact whose patch is ~40 KB: 150 custom fields of 250 characters each. */
function aLargePatch(n: number): Record<string, { v: string; ts: number; seq: number }> {
  const fields: Record<string, { v: string; ts: number; seq: number }> = {};
  for (let i = 0; i < CUSTOM_FIELDS; i++) fields[`cl_custom_f${i}`] = { v: `${n}-${i}-`.padEnd(250, 'x'), ts: 1_000 + n, seq: i };
  return fields;
}

describe(`${ImportScheduler.name} claiming`, () => {
  let app: INestApplication;
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await migratedDatabase('claim');
    drop = database.drop;
    db = database.client;
    const topic = uniqueName('claim.changes');
    await createTopics([{ topic }]);
    app = await startService(testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, IMPORTER_ENABLED: 'false' }));
  });

  afterAll(async () => {
    await app?.close();
    await drop?.();
  });

  it('keeps a batch under the 10 MB body limit and leaves the rest pending in its place', async () => {
    const rows = Array.from({ length: CONTACTS }, (_, n) => ({
      k: `C-${String(n).padStart(4, '0')}`,
      f: aLargePatch(n),
      s: new Date(Date.UTC(2026, 10, 28, 0, 0, n)).toISOString(),
    }));
    await db.query(
      `INSERT INTO pending_change (key_type, key_value, fields, first_staged_at)
       SELECT 'customer_id', r.k, r.f, r.s FROM jsonb_to_recordset($1::jsonb) AS r(k text, f jsonb, s timestamptz)`,
      [JSON.stringify(rows)],
    );

    const sut = app.get(ImportScheduler);
    await sut.takeOver();
    const batch = await sut.claim('customer_id');

    expect(batch).toBeDefined();
    const { rows: items } = await db.query(`SELECT key_value, fields FROM import_batch_item WHERE batch_id = $1 ORDER BY key_value`, [batch!.id]);
    const bytes = items.reduce((sum: number, item: { key_value: string; fields: never }) => {
      return sum + rowBytes(toImportRow('customer_id', { keyValue: item.key_value, fields: fromStored(item.fields) }));
    }, 0);
    expect(bytes).toBeLessThanOrEqual(IMPORT_BODY_BUDGET_BYTES);
    expect(items.length).toBe(batch!.rows);
    expect(items.length).toBeGreaterThan(200); // the budget, not a small chunk, ended the batch
    expect(items.length).toBeLessThan(CONTACTS);
    // The oldest contacts went first, and everything else is still pending, in its place.
    expect(items.map((item: { key_value: string }) => item.key_value)).toEqual(rows.slice(0, items.length).map((r) => r.k));
    const { rows: pending } = await db.query(`SELECT key_value, first_staged_at FROM pending_change ORDER BY first_staged_at`);
    expect(pending.map((p: { key_value: string }) => p.key_value)).toEqual(rows.slice(items.length).map((r) => r.k));
    expect(pending[0].first_staged_at.toISOString()).toBe(rows[items.length]!.s);
  });
});
