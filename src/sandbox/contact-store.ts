import { KEY_FIELDS, fieldProblem, isCustom } from './field-rules';

export type Contact = Record<string, unknown>;
export interface RowError {
  index: number;
  key: unknown;
  field: string | null;
  reason: string;
}

/**
 * One account's contacts, indexed by each key field. Applying a row: provided fields overwrite,
 * absent fields stay, `null` removes; a row matching no contact creates one.
 */
export class ContactStore {
  private readonly contacts: Contact[] = [];
  private readonly index = new Map<string, Map<string, Contact>>(KEY_FIELDS.map((key) => [key, new Map()]));

  constructor(private readonly maxCustomFields: number) {}

  get size(): number {
    return this.contacts.length;
  }

  find(keyType: string, key: string): Contact | undefined {
    return this.index.get(keyType)?.get(key);
  }

  all(): Contact[] {
    return this.contacts;
  }

  /** Validates and applies one row; returns its errors (nothing applied) or whether it created a contact. */
  apply(importKey: string, row: Record<string, unknown>, index: number): { errors: RowError[] } | { created: boolean } {
    const key = row[importKey];
    const fail = (field: string | null, reason: string) => ({ errors: [{ index, key: key ?? null, field, reason }] });
    if (typeof key !== 'string' || key.trim() === '') return fail(importKey, 'the import key is missing or empty');
    const errors: RowError[] = [];
    for (const [field, value] of Object.entries(row)) {
      const problem = fieldProblem(field, value);
      if (problem) errors.push({ index, key, field, reason: problem });
    }
    if (errors.length > 0) return { errors };
    const existing = this.find(importKey, key);
    for (const keyField of KEY_FIELDS) {
      const value = row[keyField];
      if (keyField === importKey || typeof value !== 'string') continue;
      const holder = this.find(keyField, value);
      if (holder && holder !== existing) return fail(keyField, `${keyField} already belongs to another contact`);
    }
    const contact: Contact = existing ? { ...existing } : {};
    for (const [field, value] of Object.entries(row)) {
      if (value === null) delete contact[field];
      else contact[field] = value;
    }
    if (Object.keys(contact).filter(isCustom).length > this.maxCustomFields) {
      return fail(null, `more than ${this.maxCustomFields} custom fields`);
    }
    this.put(existing, contact);
    return { created: !existing };
  }

  /** Seeds a contact as given (validated like a row by the caller). */
  put(existing: Contact | undefined, contact: Contact): void {
    if (existing) {
      for (const keyField of KEY_FIELDS) {
        const old = existing[keyField];
        if (typeof old === 'string') this.index.get(keyField)!.delete(old);
      }
      Object.keys(existing).forEach((field) => delete existing[field]);
      Object.assign(existing, contact);
    } else {
      this.contacts.push(contact);
    }
    const target = existing ?? contact;
    for (const keyField of KEY_FIELDS) {
      const value = target[keyField];
      if (typeof value === 'string') this.index.get(keyField)!.set(value, target);
    }
  }
}
