import { stringify } from 'csv-stringify/sync';
import type { Contact } from './contact-store';
import { KEY_FIELDS, isKeyField } from './field-rules';

/** The columns of an export: the requested fields, else every field any contact holds, keys first. */
export function exportColumns(contacts: readonly Contact[], requested: string[] | undefined): string[] {
  if (requested) return requested;
  const present = new Set<string>();
  for (const contact of contacts) for (const field of Object.keys(contact)) present.add(field);
  const others = [...present].filter((field) => !isKeyField(field)).sort();
  return [...KEY_FIELDS.filter((field) => present.has(field)), ...others];
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : String(value);
}

/**
 * The CSV file of an export: a header row, then one contact a row in store order, an empty cell
 * for a field the contact lacks; booleans as `true`/`false`, numbers as JSON writes them; lines
 * end with CRLF (RFC 4180) and cells are quoted only when needed.
 */
export function renderExportCsv(contacts: readonly Contact[], columns: string[]): string {
  const records = contacts.map((contact) => columns.map((column) => cell(contact[column])));
  return stringify([columns, ...records], { record_delimiter: 'windows' });
}
