import type { MigrationInterface, QueryRunner } from 'typeorm';

/** caac_sync_field_hash's expression over a canonical text, to `length` characters (see up). */
function hashOf(canonical: string, length?: number): string {
  const full = `rtrim(translate(encode(sha256(convert_to(${canonical}, 'UTF8')), 'base64'), '+/', '-_'), '=')`;
  return length === undefined ? full : `left(${full}, ${length})`;
}

/** The two functions that compute field hashes, with hashes of `length` characters (all 43 when undefined). */
async function createHashFunctions(db: QueryRunner, length?: number): Promise<void> {
  await db.query(`
    CREATE OR REPLACE FUNCTION caac_sync_field_hash(v jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT ${hashOf(`CASE jsonb_typeof(v)
          WHEN 'string' THEN 's:' || (v #>> '{}')
          WHEN 'number' THEN 'd:' || trim_scale((v #>> '{}')::numeric)::text
          WHEN 'boolean' THEN 'b:' || (v #>> '{}')
          ELSE 'n' END`, length)}
    $$`);
  // TRICKY: PL/pgSQL with the hash written inline, as migration 1795980000000 wrote it (a SQL
  // function called per cell from PL/pgSQL is set up anew each time, several times slower).
  await db.query(`
    CREATE OR REPLACE FUNCTION caac_sync_export_cell_hashes(field text, cell text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    BEGIN
      IF cell IS NULL THEN
        RETURN ARRAY[${hashOf(`'n'`, length)}, ${hashOf(`'s:'`, length)}];
      ELSIF field = 'star_mark' THEN
        RETURN CASE cell WHEN 'true' THEN ARRAY[${hashOf(`'b:true'`, length)}] WHEN 'false' THEN ARRAY[${hashOf(`'b:false'`, length)}] ELSE ARRAY[]::text[] END;
      ELSIF field LIKE 'cl\\_custom\\_%' AND cell <> '-0' AND cell ~ '^-?(0|[1-9][0-9]*)(\\.[0-9]*[1-9])?(e[+-][1-9][0-9]*)?$' THEN
        RETURN ARRAY[${hashOf(`'d:' || trim_scale(cell::numeric)::text`, length)}, ${hashOf(`'s:' || cell`, length)}];
      END IF;
      RETURN ARRAY[${hashOf(`'s:' || cell`, length)}];
    END
    $$`);
}

/**
 * Field hashes shrink from all 43 characters of SHA-256 in base64url to its first 16 (96 bits; see
 * FIELD_HASH_LENGTH in src/profile/field-hash.ts): contact_state keeps one per field of every
 * contact ever imported, and the hash was a quarter of an entry.
 *
 * Every function that computes a hash is replaced, and every hash contact_state stores is cut in
 * place: each field's `h` and a drift mark's `dh`. No other table stores hashes (pending_change and
 * import_batch_item keep values, contact_drift the value sent and CAAC's cell). The new hash of a
 * value is exactly the first 16 characters of its old one, so every field keeps matching what was
 * imported and nothing is sent again; and two hashes that differ within their first 16 characters
 * order alike cut or not, so the tie-break of equal stamps (caac_sync_merge_fields, compareStamped)
 * picks the same value as before. caac_sync_merge_fields and caac_sync_reconcile_fields call these
 * functions and compare what is stored: they need no change.
 *
 * down() restores the 43-character functions but cannot restore the cut hashes: after it, no
 * stored hash matches a new one, so each field's next change is sent even when CAAC holds it
 * already (a no-op import per field, never a lost change).
 */
export class ShortFieldHashes1796000000000 implements MigrationInterface {
  name = 'ShortFieldHashes1796000000000';

  async up(db: QueryRunner): Promise<void> {
    await createHashFunctions(db, 16);
    // TRICKY: one statement rewrites every row of contact_state: at millions of contacts that takes
    // minutes (200,000 rows: about 14 s on a busy machine), longer than the service's 60 s statement
    // timeout, which this migration alone lifts. Imports recorded meanwhile wait for its row locks.
    // The old row versions stay in the table's files as free space, reused by later writes, until
    // VACUUM FULL (or pg_repack) gives it back. updated_at is left as it is: reconcile reads it as
    // the import time of entries recorded before "at" was kept.
    await db.query(`SET LOCAL statement_timeout = 0`);
    await db.query(`
      UPDATE contact_state c
         SET fields = (SELECT jsonb_object_agg(e.key, e.value
                                || CASE WHEN jsonb_typeof(e.value->'h') = 'string' THEN jsonb_build_object('h', left(e.value->>'h', 16)) ELSE '{}' END
                                || CASE WHEN jsonb_typeof(e.value->'dh') = 'string' THEN jsonb_build_object('dh', left(e.value->>'dh', 16)) ELSE '{}' END)
                         FROM jsonb_each(c.fields) e)
       WHERE EXISTS (SELECT 1 FROM jsonb_each(c.fields) e WHERE length(e.value->>'h') > 16 OR length(e.value->>'dh') > 16)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await createHashFunctions(db);
  }
}
