/**
 * Which characters a value may hold. Postgres refuses U+0000 in text and jsonb and refuses a lone
 * surrogate escape in jsonb, so a value holding one would fail the staging statement for the
 * whole batch; the other C0 controls no person types, and they are refused with them so that a
 * producer's encoding bug shows up as one clear dead letter instead of odd text in CAAC.
 *
 * Allowed on purpose: tab, LF and CR (addresses and notes have line breaks), DEL and the C1
 * controls U+0080-U+009F. Postgres stores those, and in real CRM data they come from text once
 * decoded with the wrong code page (cp1252 quotes read as Latin-1): rejecting them would
 * dead-letter a customer's whole change over a character that CAAC shows as it shows in the CRM.
 */

// One scan per value, compiled once: C0 controls but tab, LF and CR; a high surrogate not followed
// by a low one; a low surrogate not preceded by a high one. Without the `u` flag the classes
// match UTF-16 code units, which is what finds a lone surrogate.
const FORBIDDEN_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function codePoint(unit: number): string {
  return `U+${unit.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `text` cannot be stored as a CAAC value (a control character other than tab, LF and CR, or
 * a lone surrogate), naming the first such character by code point, never the text itself; or
 * `undefined` when it can.
 */
export function textProblem(text: string): string | undefined {
  const match = FORBIDDEN_CHARACTER.exec(text);
  if (match === null) return undefined;
  const unit = match[0].charCodeAt(0);
  return unit < 0x20
    ? `must not contain control characters other than tab and line breaks (found ${codePoint(unit)})`
    : `must not contain a lone surrogate, which is not Unicode text (found ${codePoint(unit)})`;
}
