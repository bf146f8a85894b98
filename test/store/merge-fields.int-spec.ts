import fc from 'fast-check';
import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { ContactStateRepository } from '../../src/importer/contact-state.repository';
import { fieldHash, mergeStamped } from '../../src/profile';
import type { FieldValue, StampedField, StampedPatch } from '../../src/profile';
import { fromStored, toStored, type StoredStampedPatch } from '../../src/store/stored-patch';
import { migratedDataSource } from '../support/database';
import { aStateEntry, asEntryObjects } from '../support/contact-state-entries';
import { encodeStateEntry } from '../../src/importer/state-entry';

// Few names and stamps, so patches overlap and tie often; values of every type CAAC takes, so
// ties between types are exercised (Postgres text cannot hold U+0000, so strings avoid it).
// Numbers include the forms Postgres and JavaScript write differently (0.0000001 vs 1e-7, plain
// vs exponent for huge ones), and strings characters that sort differently in UTF-16 and UTF-8.
const fieldName = fc.constantFrom('display_name', 'gender', 'cl_custom_points', 'cl_custom_tier');
const awkwardNumber = fc.constantFrom(1e-7, 0.5, 0.000001, 1e21, 1e20, 5, 0.1, 0.30000000000000004, -1e-7, 1.5e300, 5e-324, 2 ** 53 + 2, -0, 123456789012345680000);
const fieldValue: fc.Arbitrary<FieldValue | null> = fc.oneof(
  fc.constantFrom<FieldValue | null>(null, '', '1', 1, 0, -1, 2.5, true, false, 'é', '台北', '\u{1F600}', '\uFF5E'),
  fc.string({ maxLength: 3, unit: fc.constantFrom('a', 'b', 'Z', '0', '"', '\\', 'é', '\u{1F600}', '\uFF5E') }),
  fc.integer({ min: -3, max: 3 }),
  awkwardNumber,
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const stampedField: fc.Arbitrary<StampedField> = fc.record({
  value: fieldValue,
  ts: fc.integer({ min: 0, max: 2 }),
  seq: fc.integer({ min: 0, max: 2 }),
});
const stampedPatch: fc.Arbitrary<StampedPatch> = fc.array(fc.tuple(fieldName, stampedField), { maxLength: 4 }).map((entries) => {
  const patch = Object.create(null) as StampedPatch;
  for (const [name, field] of entries) patch[name] = field;
  return patch;
});

/** A patch as both merges must agree on it, byte for byte: each value in its canonical (hashed) form. */
function canonical(patch: StampedPatch): Record<string, { h: string; ts: number; seq: number; at: number; v: unknown }> {
  return Object.fromEntries(Object.entries(patch).map(([field, { value, ts, seq }]) => [field, { h: fieldHash(value), ts, seq, at: 0, v: Object.is(value, -0) ? 0 : value }]));
}

describe('caac_sync_merge_fields (the SQL merge of stamped patches)', () => {
  let db: Client;
  let dataSource: DataSource;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await migratedDataSource('merge_fields');
    db = database.client;
    dataSource = database.dataSource;
    drop = database.drop;
  });

  afterAll(async () => {
    await drop();
  });

  async function mergeInSql(a: StampedPatch, b: StampedPatch): Promise<StoredStampedPatch> {
    const { rows } = await db.query(`SELECT caac_sync_merge_fields($1::jsonb, $2::jsonb) AS merged`, [
      JSON.stringify(toStored(a)),
      JSON.stringify(toStored(b)),
    ]);
    return rows[0].merged;
  }

  it('agrees with the in-memory merge, ties included, so a change wins alike wherever two meet', async () => {
    await fc.assert(
      fc.asyncProperty(stampedPatch, stampedPatch, async (a, b) => {
        const merged = await mergeInSql(a, b);
        expect(canonical(fromStored(merged))).toEqual(canonical(mergeStamped(a, b)));
      }),
      { numRuns: 600 },
    );
  });

  it('breaks an exact tie alike in both merges, whatever form a number is written in', async () => {
    const tie = (value: FieldValue | null): StampedPatch => fromStored({ cl_custom_points: { v: value, ts: 7, seq: 3 } });
    await fc.assert(
      fc.asyncProperty(fieldValue, fieldValue, async (x, y) => {
        const merged = await mergeInSql(tie(x), tie(y));
        expect(canonical(fromStored(merged))).toEqual(canonical(mergeStamped(tie(x), tie(y))));
      }),
      { numRuns: 400, examples: [[1e-7, 0.5], [1e21, 5], ['\u{1F600}', '\uFF5E'], [0.1, 0.000001]] },
    );
  });

  it('hashes every value in the service’s canonical form', async () => {
    await fc.assert(
      fc.asyncProperty(fieldValue, async (value) => {
        const { rows } = await db.query(`SELECT caac_sync_field_hash($1::jsonb) AS h`, [JSON.stringify(value)]);
        expect([value, rows[0].h]).toEqual([value, fieldHash(value)]);
      }),
      { numRuns: 400 },
    );
  });

  it('records contact_state (what CAAC was sent) as the in-memory merge of the same imports, ties included', async () => {
    const sut = new ContactStateRepository({ keepSentValues: true });
    let contact = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stampedPatch, { minLength: 1, maxLength: 5 }), async (imports) => {
        const keyValue = `C-${++contact}`;
        // One import after another, each recorded on its own, as the importer does.
        for (const fields of imports) await sut.recordImported(dataSource.manager, 'customer_id', [{ keyValue, fields }], 0);

        const [stored] = (await db.query(`SELECT fields FROM contact_state WHERE key_type = 'customer_id' AND key_value = $1`, [keyValue])).rows;
        const inMemory = canonical(imports.reduce((merged, fields) => mergeStamped(merged, fields), Object.create(null) as StampedPatch));
        expect(asEntryObjects(stored?.fields ?? {})).toEqual(inMemory);
      }),
      { numRuns: 300 },
    );
  });

  it('writes and reads contact_state entries in SQL exactly as the service does', async () => {
    await fc.assert(
      fc.asyncProperty(aStateEntry, async (entry) => {
        const stored = encodeStateEntry(entry);
        const { rows } = await db.query(
          `SELECT caac_sync_state_entry($1, $2, $3, $4, $5, $6::jsonb) AS written, caac_sync_state_core($7::jsonb) AS core, caac_sync_state_extras($7::jsonb) AS extras`,
          [entry.hash, entry.ts, entry.seq, entry.at ?? null, entry.batchId ?? null, JSON.stringify(entry.extras), JSON.stringify(stored)],
        );
        expect(rows[0].written).toEqual(stored);
        expect(rows[0].core).toEqual((typeof stored === 'string' ? stored : stored[0]).split(' '));
        expect(rows[0].extras).toEqual(entry.extras);
      }),
      { numRuns: 300 },
    );
  });

  it('is commutative and idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(stampedPatch, stampedPatch, async (a, b) => {
        const ab = await mergeInSql(a, b);
        expect(await mergeInSql(b, a)).toEqual(ab);
        expect(await mergeInSql(fromStored(ab), b)).toEqual(ab);
      }),
      { numRuns: 200 },
    );
  });

  it('takes a null patch as empty', async () => {
    const { rows } = await db.query(`SELECT caac_sync_merge_fields(NULL, NULL) AS none, caac_sync_merge_fields('{"a": {"v": 1, "ts": 1, "seq": 0}}', NULL) AS one`);
    expect(rows[0]).toEqual({ none: {}, one: { a: { v: 1, ts: 1, seq: 0 } } });
  });
});
