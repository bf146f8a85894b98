import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import { ContactStore, type Contact } from './contact-store';
import { KEY_FIELDS, isKeyField } from './field-rules';

/** The first column of every export: CAAC's own stable id of the contact (DESIGN §4.2). */
export const CONTACT_ID_COLUMN = 'contact_id';

/** The contacts of a store as they were at `cutoff`, with their ids, in creation order. */
export function* contactsAsOf(store: ContactStore, cutoff: number): Generator<{ id: string; contact: Contact }> {
  const slots = store.slots();
  // TRICKY: by index, because the array may grow (new contacts, invisible at the cutoff) while we read.
  for (let i = 0; i < slots.length; i++) {
    const record = slots[i]!;
    const contact = ContactStore.asOf(record, cutoff);
    if (contact !== undefined) yield { id: record.id, contact };
  }
}

/** The columns of an export after contact_id: the requested fields, else every field any contact holds, keys first. */
export function exportColumns(contacts: Iterable<Contact>, requested: string[] | undefined): { columns: string[]; rows: number } {
  const present = new Set<string>();
  let rows = 0;
  for (const contact of contacts) {
    rows++;
    if (!requested) for (const field of Object.keys(contact)) present.add(field);
  }
  if (requested) return { columns: requested, rows };
  const others = [...present].filter((field) => !isKeyField(field)).sort();
  return { columns: [...KEY_FIELDS.filter((field) => present.has(field)), ...others], rows };
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : String(value);
}

/**
 * The CSV file of an export, streamed: a header row, then one contact a row in store order,
 * `contact_id` first, an empty cell for a field the contact lacks; booleans as `true`/`false`,
 * numbers as JSON writes them; lines end with CRLF (RFC 4180) and cells are quoted only when
 * needed. Rows are produced as the reader takes them, so a million contacts never sit in memory
 * as one string.
 */
export function exportCsvStream(store: ContactStore, columns: string[], cutoff: number): Readable {
  function* records(): Generator<string[]> {
    yield [CONTACT_ID_COLUMN, ...columns];
    for (const { id, contact } of contactsAsOf(store, cutoff)) yield [id, ...columns.map((column) => cell(contact[column]))];
  }
  const source = Readable.from(records());
  const csv = stringify({ record_delimiter: 'windows' });
  source.on('error', (error) => csv.destroy(error));
  csv.on('close', () => source.destroy());
  return source.pipe(csv);
}
