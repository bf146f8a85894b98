import { PROFILE_API_MAX_BODY_BYTES } from '../caac/caac.client';
import { unstamp, type FieldValue, type KeyType } from '../profile';
import type { ImportItem } from './import-batch.repository';
/** Room left under the API's body limit for the envelope and any difference in how sizes are counted. */
export const IMPORT_BODY_BUDGET_BYTES = PROFILE_API_MAX_BODY_BYTES - 64 * 1024;

export type ImportRow = Record<string, FieldValue | null>;

/** One `data` item: the key field and the fields to set; custom fields are already flat `cl_custom_*`. */
export function toImportRow(keyType: KeyType, item: ImportItem): ImportRow {
  return { ...unstamp(item.fields), [keyType]: item.keyValue };
}

/** Bytes this row adds to the JSON body (its text plus the separating comma). */
export function rowBytes(row: ImportRow): number {
  return Buffer.byteLength(JSON.stringify(row)) + 1;
}
