/** CAAC's field rules as the sandbox enforces them per row (DESIGN §4.2), written independently of the service. */
export const KEY_FIELDS = ['line_uid', 'display_email', 'display_mobile', 'connect_id', 'customer_id'] as const;
export const READ_ONLY = new Set(['age', 'engagement_level']);
const TEXT = new Set(['display_name', 'full_name', 'line_uid', 'customer_id', 'connect_id', 'city', 'address', 'company', 'account_manager', 'contact_status', 'member_level']);
const REGIONS = new Set(['tw', 'jp', 'th', 'hk', 'sg', 'my', 'cn', 'kr', 'mo', 'id', 'in', 'ph', 'vn', 'kh', 'mm', 'other']);
const GENDERS = new Set(['male', 'female', 'other']);
const KNOWN = new Set([...TEXT, 'display_email', 'display_mobile', 'birthday', 'gender', 'region', 'star_mark']);
const E164 = /^\+[1-9][0-9]{6,14}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const CUSTOM = /^cl_custom_([a-z0-9_]{1,50})$/;
const TEXT_MAX = 255;

export const isCustom = (field: string) => field.startsWith('cl_custom_');

function realDate(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** Why the field's value is refused, or undefined when it is fine. `null` clears any non-key field. */
export function fieldProblem(field: string, value: unknown): string | undefined {
  if (READ_ONLY.has(field)) return 'read-only field';
  if (isCustom(field)) {
    if (!CUSTOM.test(field)) return 'custom field name must be 1-50 of a-z, 0-9, _';
    if (value === null) return undefined;
    if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'must be a finite number';
    if (typeof value === 'string') return [...value].length <= TEXT_MAX ? undefined : `longer than ${TEXT_MAX} characters`;
    return 'custom values are strings or numbers';
  }
  if (!KNOWN.has(field)) return 'unknown field';
  if (value === null) return undefined;
  switch (field) {
    case 'display_email':
      return typeof value === 'string' && value.length <= TEXT_MAX && EMAIL.test(value) ? undefined : 'not an e-mail address';
    case 'display_mobile':
      return typeof value === 'string' && value.length <= 32 && E164.test(value) ? undefined : 'not an E.164 mobile number';
    case 'birthday':
      return typeof value === 'string' && realDate(value) ? undefined : 'not a YYYY-MM-DD date';
    case 'gender':
      return typeof value === 'string' && GENDERS.has(value) ? undefined : 'must be male, female or other';
    case 'region':
      return typeof value === 'string' && REGIONS.has(value) ? undefined : 'not a known region code';
    case 'star_mark':
      return typeof value === 'boolean' ? undefined : 'must be a boolean';
    default:
      return typeof value === 'string' && [...value].length <= TEXT_MAX ? undefined : `must be text of at most ${TEXT_MAX} characters`;
  }
}
