/**
 * CAAC's field rules as the sandbox enforces them per row (DESIGN §4.2), written independently of
 * the service's own rules so that it can be their oracle.
 */
export const KEY_FIELDS = ['line_uid', 'display_email', 'display_mobile', 'connect_id', 'customer_id'] as const;
export type KeyField = (typeof KEY_FIELDS)[number];

export const READ_ONLY_FIELDS: readonly string[] = ['age', 'engagement_level'];
export const CUSTOM_FIELD_PREFIX = 'cl_custom_';

export const TEXT_MAX_CHARS = 255; // Profile API: text fields and custom values
export const MOBILE_MAX_CHARS = 32; // Profile API: display_mobile
export const CUSTOM_NAME_MAX_CHARS = 50; // Profile API: custom field names

const TEXT_FIELDS: readonly string[] = [
  'display_name',
  'full_name',
  'line_uid',
  'customer_id',
  'connect_id',
  'city',
  'address',
  'company',
  'account_manager',
  'contact_status',
  'member_level',
];
export const KNOWN_FIELDS: readonly string[] = [...TEXT_FIELDS, 'display_email', 'display_mobile', 'birthday', 'gender', 'region', 'star_mark'];
export const GENDERS: readonly string[] = ['male', 'female', 'other'];
export const REGIONS: readonly string[] = ['tw', 'jp', 'th', 'hk', 'sg', 'my', 'cn', 'kr', 'mo', 'id', 'in', 'ph', 'vn', 'kh', 'mm', 'other'];

const E164 = /^\+[1-9][0-9]{6,14}$/;
// A dotted host name and a local part of the usual atom characters; checked after the length,
// so backtracking stays bounded.
const EMAIL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i;
const CUSTOM_NAME = /^[a-z0-9_]+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isKeyField(field: string): field is KeyField {
  return (KEY_FIELDS as readonly string[]).includes(field);
}

export function isCustomField(field: string): boolean {
  return field.startsWith(CUSTOM_FIELD_PREFIX);
}

/** Length in Unicode code points, which is how the Profile API counts characters. */
export function charCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Whether `text` is `YYYY-MM-DD` naming a day that exists (2024-02-29 yes, 2023-02-29 no). */
export function isCalendarDate(text: string): boolean {
  const match = DATE.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  date.setUTCFullYear(year); // Date.UTC maps years 0..99 to 1900..1999
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Why a field name is not writable, or undefined when it is. */
export function fieldNameProblem(field: string): string | undefined {
  if (READ_ONLY_FIELDS.includes(field)) return 'read-only field';
  if (isCustomField(field)) {
    const name = field.slice(CUSTOM_FIELD_PREFIX.length);
    if (name.length < 1 || name.length > CUSTOM_NAME_MAX_CHARS || !CUSTOM_NAME.test(name)) {
      return `invalid custom field name: after ${CUSTOM_FIELD_PREFIX} 1 to ${CUSTOM_NAME_MAX_CHARS} characters of a-z, 0-9 and _`;
    }
    return undefined;
  }
  return KNOWN_FIELDS.includes(field) ? undefined : 'unknown field';
}

function textProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  return charCount(value) <= TEXT_MAX_CHARS ? undefined : `must be at most ${TEXT_MAX_CHARS} characters`;
}

/**
 * Why a field's value is refused, or undefined when it is fine. `null` is fine for every writable
 * field (it clears); whether a key may be cleared is decided by the row, not here.
 */
export function fieldProblem(field: string, value: unknown): string | undefined {
  const nameProblem = fieldNameProblem(field);
  if (nameProblem) return nameProblem;
  if (value === null) return undefined;
  if (isCustomField(field)) {
    if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'must be a finite number';
    if (typeof value === 'string') return textProblem(value);
    return 'custom values must be strings or numbers';
  }
  switch (field) {
    case 'display_email':
      if (typeof value !== 'string') return 'must be a string';
      if (charCount(value) > TEXT_MAX_CHARS) return `must be at most ${TEXT_MAX_CHARS} characters`;
      return EMAIL.test(value) ? undefined : 'not an e-mail address';
    case 'display_mobile':
      if (typeof value !== 'string') return 'must be a string';
      if (value.length > MOBILE_MAX_CHARS) return `must be at most ${MOBILE_MAX_CHARS} characters`;
      return E164.test(value) ? undefined : 'not an E.164 phone number';
    case 'birthday':
      return typeof value === 'string' && isCalendarDate(value) ? undefined : 'not a calendar date in YYYY-MM-DD';
    case 'gender':
      return typeof value === 'string' && GENDERS.includes(value) ? undefined : `must be one of ${GENDERS.join(', ')}`;
    case 'region':
      return typeof value === 'string' && REGIONS.includes(value) ? undefined : `must be one of ${REGIONS.join(', ')}`;
    case 'star_mark':
      return typeof value === 'boolean' ? undefined : 'must be a boolean';
    default: {
      const problem = textProblem(value);
      if (problem) return problem;
      // An empty key would match nothing and everything; CAAC refuses it.
      return isKeyField(field) && (value as string).trim() === '' ? 'a key value must not be empty' : undefined;
    }
  }
}
