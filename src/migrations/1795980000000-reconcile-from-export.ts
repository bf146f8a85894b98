import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reconcile: every complete export teaches contact_state what CAAC holds (the baseline) and shows
 * where CAAC differs from what the service last sent (drift). Set-based, in SQL, so a million
 * exported contacts never pass through the service's memory.
 *
 * contact_state field entries gain, besides {h, ts, seq}:
 * - `at`: when an import of the field was recorded (epoch ms); the staleness rule needs it.
 * - `l`: true when the hash was learned from an export rather than sent by the service.
 * - `dx`, `dh`: on a field whose export value differed from the one last sent (drift): the export
 *   id and the hash that had been sent. An import of the field replaces the entry, and the marks.
 */
/** caac_sync_field_hash's expression over a canonical text, written inline (see below). */
function hashOf(canonical: string): string {
  return `rtrim(translate(encode(sha256(convert_to(${canonical}, 'UTF8')), 'base64'), '+/', '-_'), '=')`;
}

/** caac_sync_reconcile_fields as first created; the idempotent rewrite (1796030000000) restores it on revert. */
export const RECONCILE_FIELDS_FUNCTION_V1 = `
      CREATE OR REPLACE FUNCTION caac_sync_reconcile_fields(state jsonb, updated timestamptz, exported jsonb, columns text[], cutoff_ms bigint, export_id bigint)
      RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
      DECLARE
        result jsonb := coalesce(state, '{}'::jsonb);
        field text;
        entry jsonb;
        cell text;
        candidates text[];
        imported_at bigint;
        learned_hash text;
      BEGIN
        FOR field, entry IN SELECT key, value FROM jsonb_each(coalesce(state, '{}'::jsonb)) LOOP
          CONTINUE WHEN columns IS NOT NULL AND NOT (field = ANY(columns));
          IF coalesce((entry->>'l')::boolean, false) THEN
            imported_at := NULL;
          ELSE
            imported_at := coalesce((entry->>'at')::bigint, (extract(epoch FROM updated) * 1000)::bigint);
            CONTINUE WHEN imported_at >= cutoff_ms;
          END IF;
          cell := exported->>field;
          candidates := caac_sync_export_cell_hashes(field, cell);
          CONTINUE WHEN (entry->>'h') = ANY(candidates);
          -- TRICKY: a cell with no reading ('x' matches no hash) makes the next change of the field go out.
          learned_hash := coalesce(candidates[1], 'x');
          IF imported_at IS NULL THEN
            result := result || jsonb_build_object(field, jsonb_build_object('h', learned_hash, 'ts', entry->'ts', 'seq', -1, 'l', true));
          ELSE
            result := result || jsonb_build_object(field, jsonb_build_object('h', learned_hash, 'ts', entry->'ts', 'seq', -1, 'l', true,
              'dx', export_id, 'dh', entry->'h', 'dseq', entry->'seq', 'dat', imported_at)
              -- TRICKY: no "dv" when the sent value is unknown (recorded before values were kept):
              -- a JSON null there would read as "the service cleared it" and crm-wins would clear it.
              || CASE WHEN entry ? 'v' THEN jsonb_build_object('dv', entry->'v') ELSE '{}'::jsonb END);
          END IF;
        END LOOP;
        FOR field, cell IN SELECT key, value FROM jsonb_each_text(coalesce(exported, '{}'::jsonb)) LOOP
          CONTINUE WHEN result ? field;
          CONTINUE WHEN NOT (field LIKE 'cl\\_custom\\_%' OR field = ANY(ARRAY['display_name', 'full_name', 'display_email',
            'display_mobile', 'line_uid', 'customer_id', 'connect_id', 'birthday', 'gender', 'region', 'city', 'address',
            'company', 'account_manager', 'contact_status', 'member_level', 'star_mark']));
          candidates := caac_sync_export_cell_hashes(field, cell);
          CONTINUE WHEN cardinality(candidates) = 0;
          result := result || jsonb_build_object(field, jsonb_build_object('h', candidates[1], 'ts', 0, 'seq', -1, 'l', true));
        END LOOP;
        RETURN result;
      END
      $$`;

export class ReconcileFromExport1795980000000 implements MigrationInterface {
  name = 'ReconcileFromExport1795980000000';

  async up(db: QueryRunner): Promise<void> {
    // The hashes (caac_sync_field_hash) an export cell may stand for, the likeliest first; empty
    // when the cell cannot be read back as a value the service would send (treated as different).
    // An absent cell is a field the contact lacks: null, or an empty text. A custom cell written
    // exactly as JavaScript writes a number is that number first (the sandbox, like CAAC, writes
    // numbers so), else its text. star_mark is a boolean; every other field is text.
    // TRICKY: PL/pgSQL with the hash written inline (caac_sync_field_hash's exact expression): a
    // SQL function called per cell from PL/pgSQL is set up anew each time, several times slower.
    await db.query(`
      CREATE FUNCTION caac_sync_export_cell_hashes(field text, cell text) RETURNS text[]
      LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
      BEGIN
        IF cell IS NULL THEN
          RETURN ARRAY[${hashOf(`'n'`)}, ${hashOf(`'s:'`)}];
        ELSIF field = 'star_mark' THEN
          RETURN CASE cell WHEN 'true' THEN ARRAY[${hashOf(`'b:true'`)}] WHEN 'false' THEN ARRAY[${hashOf(`'b:false'`)}] ELSE ARRAY[]::text[] END;
        ELSIF field LIKE 'cl\\_custom\\_%' AND cell <> '-0' AND cell ~ '^-?(0|[1-9][0-9]*)(\\.[0-9]*[1-9])?(e[+-][1-9][0-9]*)?$' THEN
          RETURN ARRAY[${hashOf(`'d:' || trim_scale(cell::numeric)::text`)}, ${hashOf(`'s:' || cell`)}];
        END IF;
        RETURN ARRAY[${hashOf(`'s:' || cell`)}];
      END
      $$`);

    // What an export teaches about one contact's fields. state: its contact_state fields (or {}),
    // updated: that row's updated_at (the import time of entries recorded before "at" existed),
    // exported: the export row's fields (CSV text, empty cells absent), columns: the export's
    // columns (NULL: every field), cutoff_ms: exported_at - the trust window
    // (EXPORT_MAX_STALENESS_MS then; CAAC_EXPORT_MAX_LAG_MS since 1796030000000).
    // Per field:
    // - imported at or after the cutoff: kept (the export may predate the import);
    // - CAAC's cell may stand for the known hash: kept;
    // - otherwise CAAC's value replaces the knowledge (learned, seq -1 so that any import of the
    //   field at the same source time replaces it, the stamp kept so older changes stay stale);
    //   if the service had sent the field (not learned), the entry carries the drift marks;
    // - a field the service never knew, present in the export, is learned with stamp (0, -1).
    // Only fields an import could carry are learned (known fields and cl_custom_*).
    await db.query(RECONCILE_FIELDS_FUNCTION_V1);

    await db.query(`ALTER TABLE export_job ADD COLUMN reconciled_at timestamptz, ADD COLUMN reconcile jsonb`);

    // The drifted fields of the latest reconciled export, with both values, for the admin route.
    await db.query(`
      CREATE TABLE contact_drift (
        export_id   bigint NOT NULL,
        key_type    text   NOT NULL,
        key_value   text   NOT NULL,
        field       text   NOT NULL,
        sent_value  jsonb,
        sent_at     timestamptz,
        caac_value  text,
        PRIMARY KEY (export_id, key_type, key_value, field)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE contact_drift`);
    await db.query(`ALTER TABLE export_job DROP COLUMN reconciled_at, DROP COLUMN reconcile`);
    await db.query(`DROP FUNCTION caac_sync_reconcile_fields(jsonb, timestamptz, jsonb, text[], bigint, bigint)`);
    await db.query(`DROP FUNCTION caac_sync_export_cell_hashes(text, text)`);
  }
}
