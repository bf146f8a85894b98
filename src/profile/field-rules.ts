import { normaliseKeyValue, textLength } from './contact-key';
import {
  CUSTOM_FIELDS_MAX,
  CUSTOM_FIELD_PREFIX,
  CUSTOM_NAME_MAX_LENGTH,
  GENDERS,
  KNOWN_FIELDS,
  READ_ONLY_FIELDS,
  REGIONS,
  TEXT_MAX_LENGTH,
  isCustomFieldName,
} from './field-catalogue';
import type { FieldKind, KeyType } from './field-catalogue';
import { emptyRecord } from './patch';
import type { FieldValue, Patch } from './patch';
import type { PhoneRegion } from './phone.normaliser';
import { textProblem } from './text-rules';

/** Why one field of an input was rejected. `field` is the CAAC field name. */
export interface FieldError {
  field: string;
  reason: string;
}

export interface PatchContext {
  /** Region for mobile numbers written without a country code (see toPhoneRegion). */
  defaultPhoneRegion: PhoneRegion;
}

export type PatchResult = { ok: true; patch: Patch } | { ok: false; errors: FieldError[] };

type ValueResult = { ok: true; value: FieldValue | null } | { ok: false; reason: string };

const REGION_LIST = [...REGIONS].join(', ');
const CUSTOM_NAME_REASON = `custom field names must be 1 to ${CUSTOM_NAME_MAX_LENGTH} characters of a-z, 0-9 and _`;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True for a real calendar date written YYYY-MM-DD (2024-02-29 yes, 2023-02-29 no). */
export function isCalendarDate(text: string): boolean {
  const match = DATE_PATTERN.exec(text);
  if (match === null) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
  return day <= days;
}

function checkText(value: string): ValueResult {
  if (textLength(value) > TEXT_MAX_LENGTH) return { ok: false, reason: `must be at most ${TEXT_MAX_LENGTH} characters` };
  const problem = textProblem(value);
  return problem === undefined ? { ok: true, value } : { ok: false, reason: problem };
}

function checkKnown(field: string, kind: FieldKind, value: unknown, ctx: PatchContext): ValueResult {
  switch (kind) {
    case 'text':
      return typeof value === 'string' ? checkText(value) : { ok: false, reason: 'must be a string' };
    case 'key-text':
    case 'email':
    case 'mobile':
      return normaliseKeyValue(field as KeyType, value, ctx.defaultPhoneRegion);
    case 'date':
      return typeof value === 'string' && isCalendarDate(value)
        ? { ok: true, value }
        : { ok: false, reason: 'must be a real date written YYYY-MM-DD' };
    case 'gender':
      return typeof value === 'string' && GENDERS.has(value)
        ? { ok: true, value }
        : { ok: false, reason: 'must be one of male, female, other' };
    case 'region': {
      const code = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
      return code !== undefined && REGIONS.has(code)
        ? { ok: true, value: code }
        : { ok: false, reason: `must be one of ${REGION_LIST}` };
    }
    case 'boolean':
      return typeof value === 'boolean' ? { ok: true, value } : { ok: false, reason: 'must be a boolean' };
  }
}

function checkCustom(value: unknown): ValueResult {
  if (typeof value === 'string') return checkText(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, reason: 'must be a finite number' };
    // -0 and 0 are one value in JSON and in CAAC; keep one form so hashes and merges agree.
    return { ok: true, value: value === 0 ? 0 : value };
  }
  return { ok: false, reason: 'must be a string or a number' };
}

/**
 * Checks and normalises one field of a flat patch. Returns the value to store (possibly
 * normalised: e-mail lower-cased, mobile in E.164, region lower-cased) or why it is rejected.
 * `null` is accepted for every writable field and means "clear".
 */
export function validateField(field: string, value: unknown, ctx: PatchContext): ValueResult {
  const kind = KNOWN_FIELDS.get(field);
  if (kind !== undefined) return value === null ? { ok: true, value: null } : checkKnown(field, kind, value, ctx);
  if (READ_ONLY_FIELDS.has(field)) return { ok: false, reason: 'is read-only in CAAC' };
  if (field.startsWith(CUSTOM_FIELD_PREFIX)) {
    if (!isCustomFieldName(field.slice(CUSTOM_FIELD_PREFIX.length))) {
      return { ok: false, reason: CUSTOM_NAME_REASON };
    }
    return value === null ? { ok: true, value: null } : checkCustom(value);
  }
  return { ok: false, reason: 'is not a CAAC field' };
}

/**
 * Validates a flat patch (CAAC field names, custom fields as `cl_custom_<name>`) against the
 * Profile API's field rules and returns it normalised, in a new null-prototype object; or every
 * field error found. `input` must be a plain object; at most CUSTOM_FIELDS_MAX custom fields.
 */
export function validatePatch(input: unknown, ctx: PatchContext): PatchResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ field: '', reason: 'the patch must be an object' }] };
  }
  const patch = emptyRecord<FieldValue | null>();
  let errors: FieldError[] | undefined;
  let customCount = 0;
  for (const field of Object.keys(input)) {
    const result = validateField(field, (input as Record<string, unknown>)[field], ctx);
    if (!result.ok) {
      (errors ??= []).push({ field, reason: result.reason });
      continue;
    }
    if (field.startsWith(CUSTOM_FIELD_PREFIX)) customCount++;
    patch[field] = result.value;
  }
  if (customCount > CUSTOM_FIELDS_MAX) {
    (errors ??= []).push({
      field: CUSTOM_FIELD_PREFIX + '*',
      reason: `at most ${CUSTOM_FIELDS_MAX} custom fields, got ${customCount}`,
    });
  }
  return errors === undefined ? { ok: true, patch } : { ok: false, errors };
}
