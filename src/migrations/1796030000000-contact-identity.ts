import type { MigrationInterface, QueryRunner } from 'typeorm';
import { RECONCILE_FIELDS_FUNCTION_V1 } from './1795980000000-reconcile-from-export';

/**
 * One contact, many keys (issue 22). CAAC keeps one contact that several import keys reach; every
 * export row lists them under one `contact_id`. Reconcile records that here, export by export, so
 * the importer can keep newest-wins across the keys of one contact (invariant 7).
 *
 * - `contact_identity`: which (key type, key value) reaches which contact_id in the latest
 *   reconciled export. A key listed under two contacts has two rows and is ambiguous: never used.
 *   Replaced export by export (rows of older exports are deleted), so it is bounded by the export.
 * - `contact_identity_untied`: keys the service itself moved (a key value sent as a field of
 *   another key, e.g. an e-mail given to another customer) in an import batch: such a key ties
 *   nothing until an export taken after that batch ended shows where it belongs.
 * - `export_job.columns`: the export file's header as the export runner read it (JSON array of
 *   column names); null where it was not recorded, and reconcile then reads the row keys.
 * - indexes for the contact story's lookups by key (drift rows, dead letters by message key).
 * - caac_sync_reconcile_fields becomes idempotent: a second run over the same export leaves a field
 *   it already reconciled, and a cell it cannot read, as the first run left them.
 */
export const RECONCILE_FIELDS_FUNCTION_V2 = `
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
          -- A column the file does not have is unknown, never read as cleared.
          CONTINUE WHEN columns IS NOT NULL AND NOT (field = ANY(columns));
          -- Already reconciled against this very export (a run again after a crash): left as it is.
          CONTINUE WHEN (entry->>'dx') = export_id::text;
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
          -- Learned already, the same way (an unreadable cell read twice): nothing to write.
          CONTINUE WHEN imported_at IS NULL AND (entry->>'h') = learned_hash;
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

export class ContactIdentity1796030000000 implements MigrationInterface {
  name = 'ContactIdentity1796030000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE contact_identity (
        key_type   text   NOT NULL,
        key_value  text   NOT NULL,
        contact_id text   NOT NULL,
        export_id  bigint NOT NULL,
        PRIMARY KEY (key_type, key_value, contact_id)
      )`);
    // The other way: a contact's keys (the importer's siblings, the contact story).
    await db.query(`CREATE INDEX contact_identity_contact ON contact_identity (contact_id)`);
    await db.query(`
      CREATE TABLE contact_identity_untied (
        key_type  text   NOT NULL,
        key_value text   NOT NULL,
        batch_id  bigint NOT NULL,
        PRIMARY KEY (key_type, key_value, batch_id)
      )`);
    await db.query(`CREATE INDEX contact_drift_key ON contact_drift (key_type, key_value)`);
    await db.query(`CREATE INDEX dead_letter_outbox_message_key ON dead_letter_outbox (message_key)`);
    await db.query(RECONCILE_FIELDS_FUNCTION_V2);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(RECONCILE_FIELDS_FUNCTION_V1);
    await db.query(`DROP INDEX dead_letter_outbox_message_key`);
    await db.query(`DROP INDEX contact_drift_key`);
    await db.query(`DROP TABLE contact_identity_untied`);
    await db.query(`DROP TABLE contact_identity`);
  }
}
