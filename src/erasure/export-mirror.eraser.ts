import type { Pool } from 'pg';
import { KEY_TYPES, normaliseKeyValue, type PhoneRegion } from '../profile';
import type { ContactKey } from './erasure-targets';

/** A CAAC contact of the export mirror (caac_contact) that one of the keys reaches. */
export interface MirroredContact {
  contactId: string;
  /** Every import key the export row lists for it, normalised: the same person under other keys. */
  keys: ContactKey[];
}

/**
 * The export mirror in EXPORT_DATABASE_URL (the service's own database by default): `caac_contact`
 * (one row per CAAC contact, its CSV cells as `fields`) and `caac_contact_topic` (the ids the export
 * topic holds a value for). Both may be absent: no export has run, or the table is off.
 */
export class ExportMirrorEraser {
  constructor(
    private readonly pool: Pool,
    private readonly defaultRegion: PhoneRegion,
  ) {}

  /** The mirrored contacts whose row lists `key` (an e-mail cell compared as the service normalises it). */
  async find(key: ContactKey): Promise<MirroredContact[]> {
    const { rows } = await this.pool.query<{ contact_id: string; fields: Record<string, unknown> }>(
      `SELECT contact_id, fields FROM caac_contact
        WHERE to_regclass('caac_contact') IS NOT NULL
          AND (CASE WHEN $1 = 'display_email' THEN lower(btrim(fields->>$1)) ELSE btrim(fields->>$1) END) = $2`,
      [key.keyType, key.keyValue],
    ).catch((error: { code?: string }) => {
      // 42P01: no caac_contact table in this database (no export has made it).
      if (error.code === '42P01') return { rows: [] };
      throw error;
    });
    return rows.map((row) => ({ contactId: row.contact_id, keys: this.keysOf(row.fields) }));
  }

  /** Deletes the contacts from the mirror and from the topic's id list; returns the mirror rows deleted. */
  async erase(contactIds: string[]): Promise<number> {
    if (contactIds.length === 0) return 0;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const tables = await client.query<{ mirror: boolean; topic: boolean }>(
        `SELECT to_regclass('caac_contact') IS NOT NULL AS mirror, to_regclass('caac_contact_topic') IS NOT NULL AS topic`,
      );
      const { mirror, topic } = tables.rows[0]!;
      const deleted = mirror ? await client.query(`DELETE FROM caac_contact WHERE contact_id = ANY($1::text[])`, [contactIds]) : undefined;
      if (topic) await client.query(`DELETE FROM caac_contact_topic WHERE contact_id = ANY($1::text[])`, [contactIds]);
      await client.query('COMMIT');
      return deleted?.rowCount ?? 0;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private keysOf(fields: Record<string, unknown>): ContactKey[] {
    return KEY_TYPES.flatMap((keyType) => {
      const cell = fields[keyType];
      if (typeof cell !== 'string' || cell.trim() === '') return [];
      const normalised = normaliseKeyValue(keyType, cell, this.defaultRegion);
      return [{ keyType, keyValue: normalised.ok ? normalised.value : cell.trim() }];
    });
  }
}
