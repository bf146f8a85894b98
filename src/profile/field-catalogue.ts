/**
 * The CAAC profile fields as the Profile API models them (DESIGN 4.2): which fields exist, which
 * can be an import key, which are read-only, and the limits their values must respect.
 */

/** Fields that can identify a contact in an import (`import_key`), in no particular priority. */
export const KEY_TYPES = [
  'line_uid',
  'display_email',
  'display_mobile',
  'connect_id',
  'customer_id',
] as const;

export type KeyType = (typeof KEY_TYPES)[number];

/** How a field's value is checked and normalised (see field-rules.ts). */
export type FieldKind = 'text' | 'key-text' | 'email' | 'mobile' | 'date' | 'gender' | 'region' | 'boolean';

/** Every writable, non-custom field and its kind. */
export const KNOWN_FIELDS: ReadonlyMap<string, FieldKind> = new Map<string, FieldKind>([
  ['display_name', 'text'],
  ['full_name', 'text'],
  ['display_email', 'email'],
  ['display_mobile', 'mobile'],
  ['line_uid', 'key-text'],
  ['customer_id', 'key-text'],
  ['connect_id', 'key-text'],
  ['birthday', 'date'],
  ['gender', 'gender'],
  ['region', 'region'],
  ['city', 'text'],
  ['address', 'text'],
  ['company', 'text'],
  ['account_manager', 'text'],
  ['contact_status', 'text'],
  ['member_level', 'text'],
  ['star_mark', 'boolean'],
]);

/** Computed by CAAC; the Profile API rejects an import that sets them. */
export const READ_ONLY_FIELDS: ReadonlySet<string> = new Set(['age', 'engagement_level']);

export const GENDERS: ReadonlySet<string> = new Set(['male', 'female', 'other']);

/** CAAC's region codes (lower case; input is lower-cased before the check). */
export const REGIONS: ReadonlySet<string> = new Set([
  'tw', 'jp', 'th', 'hk', 'sg', 'my', 'cn', 'kr', 'mo', 'id', 'in', 'ph', 'vn', 'kh', 'mm', 'other',
]);

/** Custom fields are flat keys with this prefix in the Profile API. */
export const CUSTOM_FIELD_PREFIX = 'cl_custom_';

/** Profile API field limit: text values are at most 255 characters. */
export const TEXT_MAX_LENGTH = 255;

/** Profile API field limit: `display_mobile` (E.164) is at most 32 characters. */
export const MOBILE_MAX_LENGTH = 32;

/** Profile API field limit: `display_email` is at most 255 characters. */
export const EMAIL_MAX_LENGTH = 255;

/** Profile API field limit: a custom field's name (after `cl_custom_`) is at most 50 characters. */
export const CUSTOM_NAME_MAX_LENGTH = 50;

/** Profile API field limit: at most 200 custom fields per profile, so per patch. */
export const CUSTOM_FIELDS_MAX = 200;

const KEY_TYPE_SET: ReadonlySet<string> = new Set(KEY_TYPES);

export function isKeyType(name: string): name is KeyType {
  return KEY_TYPE_SET.has(name);
}

// Names are case-sensitive and never lower-cased: CAAC defines custom fields by exact name, and
// folding case would silently merge `Points` and `points` into one field.
const CUSTOM_NAME_PATTERN = new RegExp(`^[a-z0-9_]{1,${CUSTOM_NAME_MAX_LENGTH}}$`);

/** True when `name` is a valid custom field name (the part after `cl_custom_`). */
export function isCustomFieldName(name: string): boolean {
  return CUSTOM_NAME_PATTERN.test(name);
}

/** `points` -> `cl_custom_points`. Does not validate the name. */
export function customField(name: string): string {
  return CUSTOM_FIELD_PREFIX + name;
}

export function isCustomField(field: string): boolean {
  return field.startsWith(CUSTOM_FIELD_PREFIX);
}
