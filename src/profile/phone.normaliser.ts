import { isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js';
import type { CountryCode } from 'libphonenumber-js';

export type PhoneRegion = CountryCode;

/**
 * Checks a configured default phone region (ISO 3166-1 alpha-2, e.g. `TW`) once, at start.
 * Throws when libphonenumber-js does not know it, so a typo stops the process instead of
 * rejecting every local number.
 */
export function toPhoneRegion(region: string): PhoneRegion {
  const upper = region.trim().toUpperCase();
  if (!isSupportedCountry(upper)) {
    throw new Error(`unknown phone region "${region}": expected an ISO 3166-1 alpha-2 code such as TW`);
  }
  return upper;
}

export type PhoneResult = { ok: true; value: string } | { ok: false; reason: string };

/**
 * A phone number in E.164 (`+886912345678`). Numbers without a `+` country code are read in
 * `defaultRegion` (`0912-345-678` in TW); separators, spaces and brackets are ignored. Numbers
 * libphonenumber-js does not hold valid for their region are rejected.
 */
export function normalisePhone(input: string, defaultRegion: PhoneRegion): PhoneResult {
  const parsed = parsePhoneNumberFromString(input, defaultRegion);
  if (parsed === undefined) return { ok: false, reason: 'is not a phone number' };
  if (!parsed.isValid()) {
    return { ok: false, reason: `is not a valid phone number (default region ${defaultRegion})` };
  }
  return { ok: true, value: parsed.number };
}
