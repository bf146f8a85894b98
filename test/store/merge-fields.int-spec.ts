import fc from 'fast-check';
import type { Client } from 'pg';
import { mergeStamped } from '../../src/profile';
import type { FieldValue, StampedField, StampedPatch } from '../../src/profile';
import { fromStored, toStored, type StoredStampedPatch } from '../../src/store/stored-patch';
import { migratedDatabase } from '../support/database';

// Few names and stamps, so patches overlap and tie often; values of every type CAAC takes, so
// ties between types are exercised (Postgres text cannot hold U+0000, so strings avoid it).
const fieldName = fc.constantFrom('display_name', 'gender', 'cl_custom_points', 'cl_custom_tier');
const fieldValue: fc.Arbitrary<FieldValue | null> = fc.oneof(
  fc.constantFrom<FieldValue | null>(null, '', '1', 1, 0, -1, 2.5, true, false, 'é', '台北'),
  fc.string({ maxLength: 3, unit: fc.constantFrom('a', 'b', 'Z', '0', '"', '\\', 'é') }),
  fc.integer({ min: -3, max: 3 }),
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

describe('caac_sync_merge_fields (the SQL merge of stamped patches)', () => {
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await migratedDatabase('merge_fields');
    db = database.client;
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
        expect(fromStored(merged)).toEqual(mergeStamped(a, b));
      }),
      { numRuns: 400 },
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
