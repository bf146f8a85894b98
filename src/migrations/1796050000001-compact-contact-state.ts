import type { MigrationInterface, QueryRunner } from 'typeorm';
import { RECONCILE_FIELDS_FUNCTION_V2 } from './1796030000000-contact-identity';

/**
 * contact_state field entries are packed (see src/importer/state-entry.ts): the object
 * {"h", "ts", "seq", "at", "b", ...} becomes the string "h ts seq at b", and whatever else an entry
 * knows (the value sent under crm-wins, the learned flag, drift marks) an object beside it, the entry
 * then being [core, extras]. contact_state keeps a row for every contact ever imported; with the
 * benchmarks' mix this takes the fields from about 227 to about 126 bytes a contact (key names and
 * jsonb numbers were most of an entry).
 *
 * Every reader and writer of entries follows: caac_sync_merge_state replaces caac_sync_merge_fields
 * for contact_state (pending_change keeps its layout and its merge), caac_sync_reconcile_fields reads
 * and writes the new entries, and the statements of the importer and of reconcile read them through
 * caac_sync_state_core / caac_sync_state_extras.
 *
 * Existing rows are rewritten in place with the same hashes, stamps, import times, batches and marks
 * (a number is written as the integer it was), so nothing is sent again. Cost: one pass over the
 * table in steps of CONVERT_STEP_ROWS contacts, each a statement of its own (well inside the
 * statement timeout), all in the migration's transaction, so imports and reconcile wait for it:
 * 1,000,000 contacts took 19 s on the benchmark machine (about 53,000 a second), so 10,000,000 take
 * three to four minutes. The old row versions stay in the table's files as free space that later
 * writes reuse (1,000,000 contacts: 336 MB before, 562 MB of files after; VACUUM FULL or pg_repack
 * gives it back).
 */
const CONVERT_STEP_ROWS = 20_000;

/**
 * The core of entry `e`, split: {hash, ts, seq, at, batch}, the last two possibly empty or absent.
 * TRICKY: an entry in the object layout is read as well: an instance of the previous version,
 * still running while this one migrates (a rolling deploy), records imports in that layout, and an
 * entry that no reader understood would stop every claim and reconcile of its contact for good.
 * Such an entry is replaced by the next import of its field.
 */
const coreOf = (e: string) => `CASE WHEN jsonb_typeof(${e}) = 'object'
      THEN ARRAY[${e}->>'h', ${e}->>'ts', ${e}->>'seq', coalesce(${e}->>'at', ''), coalesce(${e}->>'b', '')]
      ELSE string_to_array(CASE WHEN jsonb_typeof(${e}) = 'array' THEN ${e}->>0 ELSE ${e} #>> '{}' END, ' ') END`;

/** What entry `e` knows besides its core ({} when nothing); of an object-layout entry, its other keys. */
const extrasOf = (e: string) => `CASE jsonb_typeof(${e}) WHEN 'array' THEN ${e}->1
      WHEN 'object' THEN ${e} - 'h' - 'ts' - 'seq' - 'at' - 'b' ELSE '{}'::jsonb END`;

/** An entry's core, split (coreOf). */
const STATE_CORE_FUNCTION = `
  CREATE FUNCTION caac_sync_state_core(e jsonb) RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ${coreOf('e')}
  $$`;

/** What an entry knows besides its core (extrasOf). */
const STATE_EXTRAS_FUNCTION = `
  CREATE FUNCTION caac_sync_state_extras(e jsonb) RETURNS jsonb
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ${extrasOf('e')}
  $$`;

/** An entry from its parts, exactly as encodeStateEntry writes it. */
const STATE_ENTRY_FUNCTION = `
  CREATE FUNCTION caac_sync_state_entry(h text, ts bigint, seq bigint, at bigint, b text, extras jsonb) RETURNS jsonb
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN extras IS NULL OR extras = '{}'::jsonb
                THEN to_jsonb(h || ' ' || ts || ' ' || seq || CASE WHEN at IS NULL AND b IS NULL THEN '' ELSE ' ' || coalesce(at::text, '') || coalesce(' ' || b, '') END)
                ELSE jsonb_build_array(h || ' ' || ts || ' ' || seq || CASE WHEN at IS NULL AND b IS NULL THEN '' ELSE ' ' || coalesce(at::text, '') || coalesce(' ' || b, '') END, extras) END
  $$`;

/**
 * Merges recorded entries (b) into a contact's entries (a), per field keeping the newer by (ts, seq,
 * greater hash): caac_sync_merge_fields's order (invariant 2), on packed entries.
 * TRICKY: the core is split inline; a SQL function called per entry from PL/pgSQL is set up anew
 * each time, several times slower.
 */
const MERGE_STATE_FUNCTION = `
  CREATE FUNCTION caac_sync_merge_state(a jsonb, b jsonb) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
  DECLARE
    merged jsonb := coalesce(a, '{}'::jsonb);
    field text;
    incoming jsonb;
    current jsonb;
    inc text[];
    cur text[];
  BEGIN
    FOR field, incoming IN SELECT key, value FROM jsonb_each(coalesce(b, '{}'::jsonb)) LOOP
      current := merged -> field;
      IF current IS NOT NULL THEN
        inc := ${coreOf('incoming')};
        cur := ${coreOf('current')};
        CONTINUE WHEN (inc[2]::bigint, inc[3]::bigint, inc[1] COLLATE "C") <= (cur[2]::bigint, cur[3]::bigint, cur[1] COLLATE "C");
      END IF;
      merged := merged || jsonb_build_object(field, incoming);
    END LOOP;
    RETURN merged;
  END
  $$`;

/** caac_sync_reconcile_fields (its rules: migrations 1795980000000 and 1796030000000) on packed entries. */
const RECONCILE_FIELDS_FUNCTION_V3 = `
  CREATE OR REPLACE FUNCTION caac_sync_reconcile_fields(state jsonb, updated timestamptz, exported jsonb, columns text[], cutoff_ms bigint, export_id bigint)
  RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
  DECLARE
    result jsonb := coalesce(state, '{}'::jsonb);
    field text;
    entry jsonb;
    core text[];
    extras jsonb;
    cell text;
    candidates text[];
    imported_at bigint;
    learned_hash text;
  BEGIN
    FOR field, entry IN SELECT key, value FROM jsonb_each(coalesce(state, '{}'::jsonb)) LOOP
      -- A column the file does not have is unknown, never read as cleared.
      CONTINUE WHEN columns IS NOT NULL AND NOT (field = ANY(columns));
      core := ${coreOf('entry')};
      extras := ${extrasOf('entry')};
      -- Already reconciled against this very export (a run again after a crash): left as it is.
      CONTINUE WHEN (extras->>'dx') = export_id::text;
      IF coalesce((extras->>'l')::boolean, false) THEN
        imported_at := NULL;
      ELSE
        imported_at := coalesce(nullif(core[4], '')::bigint, (extract(epoch FROM updated) * 1000)::bigint);
        CONTINUE WHEN imported_at >= cutoff_ms;
      END IF;
      cell := exported->>field;
      candidates := caac_sync_export_cell_hashes(field, cell);
      CONTINUE WHEN core[1] = ANY(candidates);
      -- TRICKY: a cell with no reading ('x' matches no hash) makes the next change of the field go out.
      learned_hash := coalesce(candidates[1], 'x');
      -- Learned already, the same way (an unreadable cell read twice): nothing to write.
      CONTINUE WHEN imported_at IS NULL AND core[1] = learned_hash;
      IF imported_at IS NULL THEN
        result := result || jsonb_build_object(field, caac_sync_state_entry(learned_hash, core[2]::bigint, -1, NULL, NULL, '{"l": true}'));
      ELSE
        result := result || jsonb_build_object(field, caac_sync_state_entry(learned_hash, core[2]::bigint, -1, NULL, NULL,
          jsonb_build_object('l', true, 'dx', export_id, 'dh', core[1], 'dseq', core[3]::bigint, 'dat', imported_at)
          -- TRICKY: no "dv" when the sent value is unknown (recorded before values were kept):
          -- a JSON null there would read as "the service cleared it" and crm-wins would clear it.
          || CASE WHEN extras ? 'v' THEN jsonb_build_object('dv', extras->'v') ELSE '{}'::jsonb END));
      END IF;
    END LOOP;
    FOR field, cell IN SELECT key, value FROM jsonb_each_text(coalesce(exported, '{}'::jsonb)) LOOP
      CONTINUE WHEN result ? field;
      CONTINUE WHEN NOT (field LIKE 'cl\\_custom\\_%' OR field = ANY(ARRAY['display_name', 'full_name', 'display_email',
        'display_mobile', 'line_uid', 'customer_id', 'connect_id', 'birthday', 'gender', 'region', 'city', 'address',
        'company', 'account_manager', 'contact_status', 'member_level', 'star_mark']));
      candidates := caac_sync_export_cell_hashes(field, cell);
      CONTINUE WHEN cardinality(candidates) = 0;
      result := result || jsonb_build_object(field, caac_sync_state_entry(candidates[1], 0, -1, NULL, NULL, '{"l": true}'));
    END LOOP;
    RETURN result;
  END
  $$`;

/** One contact's entries in the packed layout, from the object layout (every key but the core's goes to extras). */
const TO_PACKED = `(SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'object' THEN
     caac_sync_state_entry(e.value->>'h', (e.value->>'ts')::bigint, (e.value->>'seq')::bigint, (e.value->>'at')::bigint, e.value->>'b',
                           e.value - 'h' - 'ts' - 'seq' - 'at' - 'b')
     ELSE e.value END)
   FROM jsonb_each(c.fields) e)`;

/** One contact's entries back in the object layout. */
const TO_OBJECTS = `(SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'object' THEN e.value ELSE
     jsonb_build_object('h', p.core[1], 'ts', p.core[2]::bigint, 'seq', p.core[3]::bigint)
     || CASE WHEN nullif(p.core[4], '') IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('at', p.core[4]::bigint) END
     || CASE WHEN nullif(p.core[5], '') IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('b', p.core[5]) END
     || caac_sync_state_extras(e.value) END)
   FROM jsonb_each(c.fields) e CROSS JOIN LATERAL (SELECT caac_sync_state_core(e.value) AS core) p)`;

/** Rewrites every row of contact_state, CONVERT_STEP_ROWS contacts a statement, in key order. */
async function convert(db: QueryRunner, entries: string, stillOld: string): Promise<void> {
  let after: [string, string] = ['', ''];
  for (;;) {
    const rows: Array<{ key_type: string; key_value: string }> = await db.query(
      `WITH step AS MATERIALIZED (
         SELECT key_type, key_value FROM contact_state WHERE (key_type, key_value) > ($1, $2)
          ORDER BY key_type, key_value LIMIT ${CONVERT_STEP_ROWS}),
       converted AS (
         UPDATE contact_state c SET fields = ${entries}
           FROM step s
          WHERE c.key_type = s.key_type AND c.key_value = s.key_value AND c.fields <> '{}'::jsonb
            AND EXISTS (SELECT 1 FROM jsonb_each(c.fields) e WHERE ${stillOld}))
       SELECT key_type, key_value FROM step ORDER BY key_type DESC, key_value DESC LIMIT 1`,
      after,
    );
    if (rows.length === 0) return;
    after = [rows[0]!.key_type, rows[0]!.key_value];
  }
}

export class CompactContactState1796050000001 implements MigrationInterface {
  name = 'CompactContactState1796050000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(STATE_CORE_FUNCTION);
    await db.query(STATE_EXTRAS_FUNCTION);
    await db.query(STATE_ENTRY_FUNCTION);
    await db.query(MERGE_STATE_FUNCTION);
    await db.query(RECONCILE_FIELDS_FUNCTION_V3);
    await convert(db, TO_PACKED, `jsonb_typeof(e.value) = 'object'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await convert(db, TO_OBJECTS, `jsonb_typeof(e.value) <> 'object'`);
    await db.query(RECONCILE_FIELDS_FUNCTION_V2);
    await db.query(`DROP FUNCTION caac_sync_merge_state(jsonb, jsonb)`);
    await db.query(`DROP FUNCTION caac_sync_state_entry(text, bigint, bigint, bigint, text, jsonb)`);
    await db.query(`DROP FUNCTION caac_sync_state_extras(jsonb)`);
    await db.query(`DROP FUNCTION caac_sync_state_core(jsonb)`);
  }
}
