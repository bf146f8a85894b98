import type { EntityManager } from 'typeorm';

/** One contact key, normalised as the service stores it. */
export interface ContactKey {
  keyType: string;
  keyValue: string;
}

/**
 * A place in the service's own database that may hold one person's data, and how to remove it.
 * `erase` deletes what the keys own and returns how many rows went.
 */
export interface ErasureTarget {
  table: string;
  erase(db: EntityManager, keys: ContactKey[]): Promise<number>;
}

/** The keys as two parallel arrays, for `unnest($1::text[], $2::text[])`. */
const keyParams = (keys: ContactKey[]) => [keys.map((key) => key.keyType), keys.map((key) => key.keyValue)];

/** A table keyed by `(key_type, key_value)`: every row of the keys goes. */
export function keyedTable(table: string): ErasureTarget {
  return {
    table,
    erase: async (db, keys) => {
      const [, count] = (await db.query(
        `DELETE FROM ${table} WHERE (key_type, key_value) IN (SELECT t, v FROM unnest($1::text[], $2::text[]) AS k(t, v))`,
        keyParams(keys),
      )) as [unknown, number];
      return count;
    },
  };
}

/**
 * import_batch_item rows of batches that have ended (a failed batch keeps its items for a retry).
 * TRICKY: an open batch's items are left alone: the importer matches CAAC's row errors to items by
 * their position, and records them in contact_state when the task ends. The erasure reports such
 * batches; forgetting again once they have ended removes what they wrote.
 */
export const endedBatchItems: ErasureTarget = {
  table: 'import_batch_item',
  erase: async (db, keys) => {
    const [, count] = (await db.query(
      `DELETE FROM import_batch_item i USING import_batch b
        WHERE b.id = i.batch_id AND b.status IN ('done', 'failed')
          AND (b.key_type, i.key_value) IN (SELECT t, v FROM unnest($1::text[], $2::text[]) AS k(t, v))`,
      keyParams(keys),
    )) as [unknown, number];
    return count;
  },
};

/**
 * Dead letters of the keys, published or not: import letters are keyed `keyType:keyValue`; ingest
 * letters carry the producer's key (often the CRM id, itself a key value) and the raw event, which
 * holds the value as a JSON string (e-mail addresses matched whatever their case). A value the raw
 * event spells otherwise (a local-format phone number) is not found here: it leaves the outbox with
 * the retention of published letters (DEAD_LETTER_RETENTION_MS).
 */
export const deadLetters: ErasureTarget = {
  table: 'dead_letter_outbox',
  erase: async (db, keys) => {
    const [, count] = (await db.query(
      `DELETE FROM dead_letter_outbox o USING unnest($1::text[], $2::text[], $3::text[]) AS k(t, v, literal)
        WHERE o.message_key = convert_to(k.t || ':' || k.v, 'UTF8')
           OR o.message_key = convert_to(k.v, 'UTF8')
           OR (k.t <> 'display_email' AND position(convert_to(k.literal, 'UTF8') IN o.message) > 0)
           OR (k.t = 'display_email' AND strpos(lower(encode(o.message, 'escape')), lower(encode(convert_to(k.literal, 'UTF8'), 'escape'))) > 0)`,
      [...keyParams(keys), keys.map((key) => JSON.stringify(key.keyValue))],
    )) as [unknown, number];
    return count;
  },
};

/**
 * Every place in the service's database that holds a person's data, in the order they are erased
 * (one transaction). A new table keyed by (key_type, key_value) is one more `keyedTable(...)` line.
 */
export const ERASURE_TARGETS: readonly ErasureTarget[] = [
  keyedTable('pending_change'),
  keyedTable('contact_state'),
  keyedTable('contact_drift'),
  keyedTable('contact_identity'),
  keyedTable('contact_identity_untied'),
  endedBatchItems,
  deadLetters,
];
