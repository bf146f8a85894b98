import { EMAIL_MAX_LENGTH, MOBILE_MAX_LENGTH, TEXT_MAX_LENGTH } from './field-catalogue';
import type { KeyType } from './field-catalogue';
import type { ContactKey } from './patch';
import { normalisePhone } from './phone.normaliser';
import type { PhoneRegion } from './phone.normaliser';
import { textProblem } from './text-rules';

export type KeyValueResult = { ok: true; value: string } | { ok: false; reason: string };

// A pragmatic address check (the shape ajv-formats uses for `email`): ASCII local part and a
// dotted host name. Run only after the length check, so its backtracking stays bounded.
const EMAIL_PATTERN =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** Length in Unicode code points, as the Profile API counts characters; cheap for short text. */
export function textLength(text: string): number {
  // A UTF-16 length is an upper bound of the code-point count, so most values skip the count.
  if (text.length <= TEXT_MAX_LENGTH) return text.length;
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Trims and lower-cases an e-mail address, then checks its shape and length. */
export function normaliseEmail(input: string): KeyValueResult {
  const value = input.trim().toLowerCase();
  if (value.length === 0) return { ok: false, reason: 'must not be empty' };
  if (textLength(value) > EMAIL_MAX_LENGTH) {
    return { ok: false, reason: `must be at most ${EMAIL_MAX_LENGTH} characters` };
  }
  if (!EMAIL_PATTERN.test(value)) return { ok: false, reason: 'is not an e-mail address' };
  return { ok: true, value };
}

/** A mobile number in E.164, at most MOBILE_MAX_LENGTH characters. */
export function normaliseMobile(input: string, defaultRegion: PhoneRegion): KeyValueResult {
  if (input.trim().length === 0) return { ok: false, reason: 'must not be empty' };
  const result = normalisePhone(input, defaultRegion);
  if (result.ok && result.value.length > MOBILE_MAX_LENGTH) {
    return { ok: false, reason: `must be at most ${MOBILE_MAX_LENGTH} characters in E.164` };
  }
  return result;
}

/**
 * Normalises the value of a key-type field, the same way whether it arrives as an event's key
 * or as a profile field: e-mail trimmed and lower-cased, mobile to E.164, other keys trimmed.
 * Only strings are accepted; empty after trimming is invalid, and so is text with a control
 * character or a lone surrogate (see textProblem), even where normalising would drop it.
 */
export function normaliseKeyValue(type: KeyType, raw: unknown, defaultRegion: PhoneRegion): KeyValueResult {
  if (typeof raw !== 'string') return { ok: false, reason: 'must be a string' };
  const problem = textProblem(raw);
  if (problem !== undefined) return { ok: false, reason: problem };
  switch (type) {
    case 'display_email':
      return normaliseEmail(raw);
    case 'display_mobile':
      return normaliseMobile(raw, defaultRegion);
    default: {
      const value = raw.trim();
      if (value.length === 0) return { ok: false, reason: 'must not be empty' };
      if (textLength(value) > TEXT_MAX_LENGTH) {
        return { ok: false, reason: `must be at most ${TEXT_MAX_LENGTH} characters` };
      }
      return { ok: true, value };
    }
  }
}

export type ContactKeyResult = { ok: true; key: ContactKey } | { ok: false; reason: string };

/** A ContactKey from a key type and a raw value, normalised by normaliseKeyValue. */
export function toContactKey(type: KeyType, raw: unknown, defaultRegion: PhoneRegion): ContactKeyResult {
  const result = normaliseKeyValue(type, raw, defaultRegion);
  return result.ok ? { ok: true, key: { type, value: result.value } } : result;
}
