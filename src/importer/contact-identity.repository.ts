import type { EntityManager } from 'typeorm';
import { KEY_TYPES, type ImportedField, type KeyType } from '../profile';
import type { ImportItem } from './import-batch.repository';

/**
 * The keys that reach a contact's key, as the latest reconciled export listed them under one CAAC
 * contact_id (reconcile writes contact_identity). A key is used only when it reaches one contact
 * and the service has not moved it since (contact_identity_untied). Inlined in each statement.
 */
export const TIED = (alias: string) => `
  NOT EXISTS (SELECT 1 FROM contact_identity o WHERE o.key_type = ${alias}.key_type AND o.key_value = ${alias}.key_value AND o.contact_id <> ${alias}.contact_id)
  AND NOT EXISTS (SELECT 1 FROM contact_identity_untied u WHERE u.key_type = ${alias}.key_type AND u.key_value = ${alias}.key_value)`;

/**
 * What the importer reads of contact identity (invariant 7 across key types): the newest stamp of
 * each field through the other keys of the same contact, and which keys an import moves.
 */
export class ContactIdentityRepository {
  /**
   * Per contact of `keyValues` (of `keyType`) that an export tied to one CAAC contact: per field,
   * the newest stamp and value hash that the contact's other keys carry, sent (contact_state) or
   * pending (pending_change). Newest by (ts, seq, greater hash), as every merge orders them.
   */
  async newestThroughOtherKeys(db: EntityManager, keyType: KeyType, keyValues: string[]): Promise<Map<string, Record<string, ImportedField>>> {
    const found = new Map<string, Record<string, ImportedField>>();
    if (keyValues.length === 0) return found;
    const rows: Array<{ mine: string; field: string; ts: string; seq: string; h: string }> = await db.query(
      // TRICKY: the keys join as a set, so each is one primary-key probe; as "= ANY(array)" the
      // planner scanned the whole of contact_identity for a claim's 2,000 keys.
      `WITH mine AS (
         SELECT i.key_value AS mine, i.contact_id FROM unnest($2::text[]) AS k(key_value)
           JOIN contact_identity i ON i.key_type = $1 AND i.key_value = k.key_value
          WHERE ${TIED('i')}),
       siblings AS (
         SELECT m.mine, s.key_type, s.key_value FROM mine m JOIN contact_identity s ON s.contact_id = m.contact_id
          WHERE s.key_type <> $1 AND ${TIED('s')}),
       stamps AS (
         SELECT sb.mine, f.key AS field, e.core[2]::bigint AS ts, e.core[3]::bigint AS seq, e.core[1] AS h
           FROM siblings sb JOIN contact_state c ON c.key_type = sb.key_type AND c.key_value = sb.key_value, jsonb_each(c.fields) f,
                LATERAL (SELECT caac_sync_state_core(f.value) AS core) e
         UNION ALL
         SELECT sb.mine, f.key, (f.value->>'ts')::bigint, (f.value->>'seq')::bigint, caac_sync_field_hash(f.value->'v')
           FROM siblings sb JOIN pending_change p ON p.key_type = sb.key_type AND p.key_value = sb.key_value, jsonb_each(p.fields) f)
       -- (Ordered by the stamps' numbers: the text columns below have the same names.)
       SELECT DISTINCT ON (s.mine, s.field) s.mine, s.field, s.ts::text AS ts, s.seq::text AS seq, s.h
         FROM stamps s ORDER BY s.mine, s.field, s.ts DESC, s.seq DESC, s.h COLLATE "C" DESC`,
      [keyType, keyValues],
    );
    for (const row of rows) {
      let fields = found.get(row.mine);
      if (!fields) found.set(row.mine, (fields = Object.create(null) as Record<string, ImportedField>));
      fields[row.field] = { hash: row.h, ts: Number(row.ts), seq: Number(row.seq) };
    }
    return found;
  }

  /**
   * The batch sends key values as fields of another key (an e-mail given to a customer): the key
   * value sent, and the contact's previous value of that key type, tie nothing from now on, until
   * an export taken after the batch ended shows where they belong (reconcile then drops these
   * rows). A value the contact already has under that key type moves nothing.
   */
  async untieMoved(db: EntityManager, keyType: KeyType, batchId: string, items: ImportItem[]): Promise<void> {
    const moved = items.flatMap((item) =>
      KEY_TYPES.filter((other) => other !== keyType && item.fields[other] !== undefined).map((other) => {
        const value = item.fields[other]!.value;
        return { k: item.keyValue, t: other, v: value === null ? null : String(value) };
      }),
    );
    if (moved.length === 0) return;
    await db.query(
      `WITH moved AS (
         SELECT r.k, r.t, CASE WHEN r.t = 'display_email' THEN lower(btrim(r.v)) ELSE r.v END AS v
           FROM jsonb_to_recordset($3::jsonb) AS r(k text, t text, v text)),
       real AS (
         SELECT m.* FROM moved m
          WHERE NOT EXISTS (SELECT 1 FROM contact_identity me JOIN contact_identity same ON same.contact_id = me.contact_id
                             WHERE me.key_type = $1 AND me.key_value = m.k AND same.key_type = m.t AND same.key_value = m.v))
       INSERT INTO contact_identity_untied (key_type, key_value, batch_id)
       SELECT t, v, $2::bigint FROM real WHERE v IS NOT NULL
       UNION
       SELECT o.key_type, o.key_value, $2::bigint FROM real m
         JOIN contact_identity me ON me.key_type = $1 AND me.key_value = m.k
         JOIN contact_identity o ON o.contact_id = me.contact_id AND o.key_type = m.t
       ON CONFLICT DO NOTHING`,
      [keyType, batchId, JSON.stringify(moved)],
    );
  }
}
