import { createHash } from 'node:crypto';
import { KEY_TYPES, type KeyType } from '../profile';

/**
 * How a CRM CSV becomes `profile-change.v1` events (DESIGN §4.1): the column holding the import key,
 * optionally the column holding when the row last changed, and CSV column -> CAAC field
 * (`custom.<name>` for custom fields). Columns not listed are ignored.
 *
 * ```json
 * { "key": { "column": "customer_id", "type": "customer_id" },
 *   "occurred_at": "updated_at",
 *   "fields": { "name": "display_name", "email": "display_email", "tier": "member_level", "points": "custom.points" } }
 * ```
 */
export interface BackfillMapping {
  key: { column: string; type: KeyType };
  occurredAt?: string;
  fields: ReadonlyArray<{ column: string; field: string }>;
}

/** A mapping file the backfill cannot use; one line per problem. */
export class BackfillMappingError extends Error {
  constructor(file: string, readonly problems: string[]) {
    super(`mapping ${file} is not usable:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'BackfillMappingError';
  }
}

const FIELD_NAME = /^(?:custom\.)?[a-z][a-z0-9_]{0,63}$/;

/** Checks a parsed mapping file; throws a BackfillMappingError naming every problem. */
export function parseBackfillMapping(json: unknown, file: string): BackfillMapping {
  const problems: string[] = [];
  const object = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!object(json)) throw new BackfillMappingError(file, ['must be a JSON object with "key" and "fields"']);
  const key = json.key;
  if (!object(key) || typeof key.column !== 'string' || key.column === '') problems.push('key.column: must name the CSV column of the import key');
  if (!object(key) || !KEY_TYPES.includes(key.type as KeyType)) problems.push(`key.type: must be one of ${KEY_TYPES.join(', ')}`);
  if (json.occurred_at !== undefined && (typeof json.occurred_at !== 'string' || json.occurred_at === '')) {
    problems.push('occurred_at: must name the CSV column of the time a row last changed');
  }
  const fields: Array<{ column: string; field: string }> = [];
  if (!object(json.fields) || Object.keys(json.fields).length === 0) {
    problems.push('fields: must map at least one CSV column to a CAAC field');
  } else {
    for (const [column, field] of Object.entries(json.fields)) {
      if (typeof field !== 'string' || !FIELD_NAME.test(field)) problems.push(`fields.${column}: must be a CAAC field name, e.g. display_name or custom.points`);
      else fields.push({ column, field });
    }
  }
  if (problems.length > 0) throw new BackfillMappingError(file, problems);
  const k = key as { column: string; type: KeyType };
  return { key: { column: k.column, type: k.type }, ...(typeof json.occurred_at === 'string' && { occurredAt: json.occurred_at }), fields };
}

/**
 * One CSV row as a `profile-change.v1` event. An empty cell leaves the field as it is (a CSV cannot
 * tell "empty" from "unknown"), so a backfill never clears a field. The event id is derived from
 * the event's content, so running the same backfill again publishes the same ids and dedupe drops
 * them; a row without its key or with nothing to set returns the reason instead.
 */
export function rowToEvent(row: Readonly<Record<string, string>>, mapping: BackfillMapping, fallbackOccurredAt: string): { key: string; event: Record<string, unknown> } | { error: string } {
  const keyValue = (row[mapping.key.column] ?? '').trim();
  if (keyValue === '') return { error: `${mapping.key.column}: the import key is empty` };
  const occurredAt = mapping.occurredAt === undefined ? fallbackOccurredAt : (row[mapping.occurredAt] ?? '').trim();
  if (occurredAt === '') return { error: `${mapping.occurredAt}: the time of the change is empty` };
  const profile: Record<string, unknown> = {};
  const custom: Record<string, unknown> = {};
  for (const { column, field } of mapping.fields) {
    const value = row[column];
    if (value === undefined || value === '') continue;
    if (field.startsWith('custom.')) custom[field.slice('custom.'.length)] = value;
    else profile[field] = value;
  }
  if (Object.keys(custom).length > 0) profile.custom = custom;
  if (Object.keys(profile).length === 0) return { error: 'no mapped column has a value' };
  const content = JSON.stringify([mapping.key.type, keyValue, occurredAt, profile]);
  return { key: keyValue, event: { event_id: contentUuid(content), occurred_at: occurredAt, key: { [mapping.key.type]: keyValue }, profile } };
}

/** A UUID-shaped id from the SHA-256 of `content` (the same content, the same id). */
function contentUuid(content: string): string {
  const hex = createHash('sha256').update(content).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
