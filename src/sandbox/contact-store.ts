import { KEY_FIELDS, isCustomField, isKeyField, type KeyField } from './field-rules';
import type { RowError } from './row-error';
import type { ImportRow } from './row-validation';

/** A contact as CAAC holds it: a flat object of field names; a cleared field is absent. */
export type Contact = Record<string, unknown>;

export type UpsertOutcome = { created: boolean } | { error: RowError };

/**
 * One account's contacts, in creation order, indexed by each key field. Upserting a row: the
 * contact whose import key equals the row's is updated (provided fields overwrite, absent fields
 * stay, `null` removes), or a contact is created when none matches.
 */
export class ContactStore {
  private contacts: Contact[] = [];
  private indexes = new Map<KeyField, Map<string, Contact>>(KEY_FIELDS.map((field) => [field, new Map()]));

  constructor(private readonly maxCustomFields: number) {}

  get size(): number {
    return this.contacts.length;
  }

  find(keyField: KeyField, value: string): Contact | undefined {
    return this.indexes.get(keyField)!.get(value);
  }

  /** Contacts in creation order; a stable order for paging. */
  all(): readonly Contact[] {
    return this.contacts;
  }

  /**
   * Applies a row already checked by validateRow. Refuses it, changing nothing, when it would give
   * a key value held by another contact or leave the contact with too many custom fields.
   */
  upsert(importKey: KeyField, row: ImportRow, index: number): UpsertOutcome {
    const keyValue = row[importKey] as string;
    const existing = this.find(importKey, keyValue);
    const fail = (field: string | null, reason: string): UpsertOutcome => ({ error: { index, key: keyValue, field, reason } });

    for (const [field, value] of Object.entries(row)) {
      if (!isKeyField(field) || typeof value !== 'string') continue;
      const holder = this.find(field, value);
      if (holder && holder !== existing) return fail(field, `${field} ${value} already belongs to another contact`);
    }

    const next: Contact = { ...existing };
    let customCount = Object.keys(next).filter(isCustomField).length;
    let overflowField: string | undefined;
    for (const [field, value] of Object.entries(row)) {
      const had = field in next;
      if (value === null) {
        delete next[field];
        if (had && isCustomField(field)) customCount--;
        continue;
      }
      next[field] = value;
      if (!had && isCustomField(field)) {
        customCount++;
        if (customCount > this.maxCustomFields && overflowField === undefined) overflowField = field;
      }
    }
    if (customCount > this.maxCustomFields) {
      return fail(overflowField ?? null, `a contact may hold at most ${this.maxCustomFields} custom fields`);
    }

    this.store(existing, next);
    return { created: existing === undefined };
  }

  /** A copy of every contact, to restore after a failed all-or-nothing change. */
  snapshot(): Contact[] {
    return this.contacts.map((contact) => ({ ...contact }));
  }

  restore(contacts: Contact[]): void {
    this.clear();
    for (const contact of contacts) this.store(undefined, contact);
  }

  clear(): void {
    this.contacts = [];
    for (const index of this.indexes.values()) index.clear();
  }

  private store(existing: Contact | undefined, next: Contact): void {
    let target: Contact;
    if (existing) {
      this.unindex(existing);
      // Updated in place, so the contact keeps its position in the paging order.
      for (const field of Object.keys(existing)) delete existing[field];
      Object.assign(existing, next);
      target = existing;
    } else {
      this.contacts.push(next);
      target = next;
    }
    for (const field of KEY_FIELDS) {
      const value = target[field];
      if (typeof value === 'string') this.indexes.get(field)!.set(value, target);
    }
  }

  private unindex(contact: Contact): void {
    for (const field of KEY_FIELDS) {
      const value = contact[field];
      if (typeof value === 'string') this.indexes.get(field)!.delete(value);
    }
  }
}
