import type { EntityManager } from 'typeorm';
import { fieldHash, type ImportedField, type KeyType, type StampedPatch } from '../profile';
import { decodeStateEntry, encodeStateEntry, type StoredStateEntry } from './state-entry';

/** Stored form of contact_state.fields: an entry per field, packed (see state-entry.ts). */
type StoredState = Record<string, StoredStateEntry>;

export interface ContactStateOptions {
  /**
   * Whether each entry keeps the value sent, besides its hash: only DRIFT_POLICY=crm-wins reads it,
   * and it is most of an entry's size (contact_state holds a row per contact ever imported).
   */
  keepSentValues: boolean;
}

export class ContactStateRepository {
  constructor(private readonly options: ContactStateOptions) {}

  /** What was last imported per field, for the given contacts of one key type. */
  async find(db: EntityManager, keyType: KeyType, keyValues: string[]): Promise<Map<string, Record<string, ImportedField>>> {
    const found = new Map<string, Record<string, ImportedField>>();
    if (keyValues.length === 0) return found;
    const rows: Array<{ key_value: string; fields: StoredState }> = await db.query(
      `SELECT key_value, fields FROM contact_state WHERE key_type = $1 AND key_value = ANY($2::text[])`,
      [keyType, keyValues],
    );
    for (const row of rows) {
      const imported: Record<string, ImportedField> = Object.create(null);
      for (const [field, stored] of Object.entries(row.fields)) {
        const { hash, ts, seq } = decodeStateEntry(stored);
        imported[field] = { hash, ts, seq };
      }
      found.set(row.key_value, imported);
    }
    return found;
  }

  /**
   * Records what CAAC now holds after a successful import. Per field the newer stamp wins, so a
   * late-recorded older import can never mask a newer one (invariants 2 and 5). The value itself
   * is kept only when the options ask for it (keepSentValues).
   */
  async recordImported(db: EntityManager, keyType: KeyType, contacts: Array<{ keyValue: string; fields: StampedPatch }>, at: number, batchId?: string): Promise<void> {
    if (contacts.length === 0) return;
    const rows = contacts.map(({ keyValue, fields }) => {
      const state: StoredState = {};
      for (const field of Object.keys(fields)) {
        const { value, ts, seq } = fields[field]!;
        state[field] = encodeStateEntry({ hash: fieldHash(value), ts, seq, at, ...(batchId === undefined ? {} : { batchId }), extras: this.options.keepSentValues ? { v: value } : {} });
      }
      return { k: keyValue, f: state };
    });
    await db.query(
      `INSERT INTO contact_state AS c (key_type, key_value, fields)
       SELECT $1, r.k, r.f FROM jsonb_to_recordset($2::jsonb) AS r(k text, f jsonb)
       ORDER BY r.k
       ON CONFLICT (key_type, key_value) DO UPDATE
         SET fields = caac_sync_merge_state(c.fields, EXCLUDED.fields), updated_at = now()`,
      [keyType, JSON.stringify(rows)],
    );
  }
}
