import type { MigrationInterface, QueryRunner } from 'typeorm';
import { PlpgsqlMergeFields1795900000000 } from './1795900000000-plpgsql-merge-fields';

/**
 * One tie-break for every merge (invariant 2, equal stamps): the greater field hash wins, in
 * memory (compareStamped), in pending_change and in contact_state alike. Before, pending_change
 * compared a text of the value in which Postgres writes numbers its own way (0.0000001 where the
 * service writes 1e-7) and sorts strings by UTF-8 bytes where JavaScript sorts UTF-16 units, and
 * contact_state, which keeps only hashes, kept whichever was recorded first.
 *
 * The hash is the service's (fieldHash): SHA-256 of the canonical text, where a number is written
 * in plain positional form (0.0000001, never 1e-7), the form Postgres prints a jsonb number in, so
 * both sides compute it exactly. For hashes already stored in contact_state: a number from 1e-6 to
 * 1e21 (every amount, count or score in practice) was written so before and keeps its hash; only
 * the rare number JavaScript wrote with an exponent gets a new hash, so such a field is sent once
 * more (a no-op import of the same value, never a lost change: different values never share a form).
 */
export class CanonicalTieBreak1795940000001 implements MigrationInterface {
  name = 'CanonicalTieBreak1795940000001';

  async up(db: QueryRunner): Promise<void> {
    // The service's fieldHash: SHA-256 of the canonical text (serialiseFieldValue), base64url. A
    // jsonb number prints in plain positional form, which is the canonical one; trim_scale drops
    // trailing fractional zeros, which a number written by JSON.stringify never has anyway.
    await db.query(`
      CREATE FUNCTION caac_sync_field_hash(v jsonb) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT rtrim(translate(encode(sha256(convert_to(
          CASE jsonb_typeof(v)
            WHEN 'string' THEN 's:' || (v #>> '{}')
            WHEN 'number' THEN 'd:' || trim_scale((v #>> '{}')::numeric)::text
            WHEN 'boolean' THEN 'b:' || (v #>> '{}')
            ELSE 'n' END, 'UTF8')), 'base64'), '+/', '-_'), '=')
      $$`);
    // Fields carry their value (pending_change: "v") or only its hash (contact_state: "h").
    await db.query(`
      CREATE OR REPLACE FUNCTION caac_sync_merge_fields(a jsonb, b jsonb) RETURNS jsonb
      LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
      DECLARE
        merged jsonb := coalesce(a, '{}'::jsonb);
        field text;
        incoming jsonb;
        current jsonb;
      BEGIN
        FOR field, incoming IN SELECT key, value FROM jsonb_each(coalesce(b, '{}'::jsonb)) LOOP
          current := merged -> field;
          IF current IS NOT NULL THEN
            -- Keep the current field unless the incoming one is newer by (ts, seq, field hash).
            CONTINUE WHEN (incoming->>'ts')::bigint < (current->>'ts')::bigint;
            IF (incoming->>'ts')::bigint = (current->>'ts')::bigint THEN
              CONTINUE WHEN (incoming->>'seq')::bigint < (current->>'seq')::bigint;
              CONTINUE WHEN (incoming->>'seq')::bigint = (current->>'seq')::bigint
                AND coalesce(incoming->>'h', caac_sync_field_hash(incoming->'v')) COLLATE "C"
                    <= coalesce(current->>'h', caac_sync_field_hash(current->'v')) COLLATE "C";
            END IF;
          END IF;
          merged := merged || jsonb_build_object(field, incoming);
        END LOOP;
        RETURN merged;
      END
      $$`);
    await db.query(`DROP FUNCTION caac_sync_value_order(jsonb)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP FUNCTION caac_sync_field_hash(jsonb)`);
    // Back to the previous value-order tie-break, exactly as that migration created it.
    await new PlpgsqlMergeFields1795900000000().up(db);
  }
}
