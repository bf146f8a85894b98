import { randomUUID } from 'node:crypto';
import { KEY_FIELDS, isCustomField, isKeyField, type KeyField } from './field-rules';
import type { RowError } from './row-error';
import type { ImportRow } from './row-validation';

/** A contact as CAAC holds it: a flat object of field names; a cleared field is absent. */
export type Contact = Record<string, unknown>;

export type UpsertOutcome = { created: boolean } | { error: RowError };

/** The fields a contact had until `until` (epoch ms); undefined: it did not exist (or was removed). */
interface Version {
  until: number;
  fields: Contact | undefined;
}

/** One contact slot: CAAC's own id, its fields now (undefined once removed) and older versions still needed. */
export interface ContactRecord {
  readonly id: string;
  fields: Contact | undefined;
  history: Version[] | undefined;
}

/**
 * When a change happens and how far back anyone may still look: a version that ended at or before
 * `keepSince` can never be read again (no export's cutoff is that early), so it is not kept.
 */
export interface ChangeTime {
  at: number;
  keepSince: number;
}

/** No history at all: every change is final at once (unit tests, stores nobody exports from). */
export const NO_HISTORY: ChangeTime = { at: 0, keepSince: Number.POSITIVE_INFINITY };

/**
 * One account's contacts, in creation order, indexed by each key field. Upserting a row: the
 * contact whose import key equals the row's is updated (provided fields overwrite, absent fields
 * stay, `null` removes), or a contact is created, with a new `contact_id`, when none matches.
 *
 * Exports read the contacts as of a cutoff time (DESIGN §4.3, SANDBOX_EXPORT_LAG_MS): a change
 * keeps the contact's previous version only while some export could still read it, so a store
 * nobody looks back into holds one version per contact.
 */
export class ContactStore {
  private records: ContactRecord[] = [];
  private liveCount = 0;
  private indexes = new Map<KeyField, Map<string, ContactRecord>>(KEY_FIELDS.map((field) => [field, new Map()]));

  constructor(
    private readonly maxCustomFields: number,
    private readonly newId: () => string = randomUUID,
  ) {}

  /** Contacts held now. */
  get size(): number {
    return this.liveCount;
  }

  find(keyField: KeyField, value: string): Contact | undefined {
    return this.indexes.get(keyField)!.get(value)?.fields;
  }

  findRecord(keyField: KeyField, value: string): ContactRecord | undefined {
    return this.indexes.get(keyField)!.get(value);
  }

  /** Contacts held now, in creation order; a stable order for paging. */
  all(): Contact[] {
    return this.live().map((record) => record.fields!);
  }

  /** Records of the contacts held now, in creation order. */
  live(): ContactRecord[] {
    return this.records.filter((record) => record.fields !== undefined);
  }

  /**
   * Every record ever created since the last clear, removed ones included, in creation order.
   * TRICKY: the array grows while an export streams it; read it by index, never sort or splice it.
   */
  slots(): readonly ContactRecord[] {
    return this.records;
  }

  /** The record's fields as they were at `cutoff` (undefined: it did not exist then). */
  static asOf(record: ContactRecord, cutoff: number): Contact | undefined {
    const earlier = record.history?.find((version) => version.until > cutoff);
    return earlier ? earlier.fields : record.fields;
  }

  /**
   * Applies a row already checked by validateRow. Refuses it, changing nothing, when it would give
   * a key value held by another contact or leave the contact with too many custom fields.
   */
  upsert(importKey: KeyField, row: ImportRow, index: number, when: ChangeTime = NO_HISTORY): UpsertOutcome {
    const keyValue = row[importKey] as string;
    const existing = this.findRecord(importKey, keyValue);
    const fail = (field: string | null, reason: string): UpsertOutcome => ({ error: { index, key: keyValue, field, reason } });

    for (const [field, value] of Object.entries(row)) {
      if (!isKeyField(field) || typeof value !== 'string') continue;
      const holder = this.findRecord(field, value);
      if (holder && holder !== existing) return fail(field, `${field} ${value} already belongs to another contact`);
    }

    const next: Contact = { ...existing?.fields };
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

    this.store(existing, next, when);
    return { created: existing === undefined };
  }

  /** Removes the contact holding this key value; false when none does. */
  remove(keyField: KeyField, value: string, when: ChangeTime = NO_HISTORY): boolean {
    const record = this.findRecord(keyField, value);
    if (!record) return false;
    this.unindex(record);
    this.setFields(record, undefined, when);
    this.liveCount--;
    return true;
  }

  /** A copy of every record, to restore after a failed all-or-nothing change. */
  snapshot(): ContactRecord[] {
    return this.records.map((record) => ({ id: record.id, fields: record.fields && { ...record.fields }, history: record.history && [...record.history] }));
  }

  restore(records: ContactRecord[]): void {
    this.clear();
    this.records = records;
    for (const record of records) {
      if (record.fields === undefined) continue;
      this.liveCount++;
      this.index(record);
    }
  }

  clear(): void {
    this.records = [];
    this.liveCount = 0;
    for (const index of this.indexes.values()) index.clear();
  }

  private store(existing: ContactRecord | undefined, next: Contact, when: ChangeTime): void {
    let record: ContactRecord;
    if (existing) {
      this.unindex(existing);
      this.setFields(existing, next, when);
      record = existing;
    } else {
      record = { id: this.newId(), fields: undefined, history: undefined };
      this.setFields(record, next, when);
      this.records.push(record);
      this.liveCount++;
    }
    this.index(record);
  }

  /** Replaces the record's fields, keeping the old version while an export may still read it. */
  private setFields(record: ContactRecord, fields: Contact | undefined, when: ChangeTime): void {
    const kept = record.history?.filter((version) => version.until > when.keepSince) ?? [];
    if (when.at > when.keepSince) kept.push({ until: when.at, fields: record.fields });
    record.history = kept.length > 0 ? kept : undefined;
    record.fields = fields;
  }

  private index(record: ContactRecord): void {
    for (const field of KEY_FIELDS) {
      const value = record.fields?.[field];
      if (typeof value === 'string') this.indexes.get(field)!.set(value, record);
    }
  }

  private unindex(record: ContactRecord): void {
    for (const field of KEY_FIELDS) {
      const value = record.fields?.[field];
      if (typeof value === 'string') this.indexes.get(field)!.delete(value);
    }
  }
}
