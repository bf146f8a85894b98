/**
 * Kafka Connect's JsonConverter with `schemas.enable=true` writes every record as
 * `{"schema":<schema>,"payload":<payload>}`, compact, keys in that order. The schema is the larger
 * part and the same text for every record of one table version, so a reader that finds where it
 * ends can parse it once per version instead of once per record.
 */
export interface ConnectJsonParts {
  /** The schema's JSON text (an object; not yet validated). */
  schema: string;
  /** The payload's JSON text (an object or `null`; not yet validated). */
  payload: string;
}

const SCHEMA_PREFIX = '{"schema":';
const PAYLOAD_INFIX = ',"payload":';

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACE = 0x7d; // }
const OPEN_BRACKET = 0x5b; // [
const CLOSE_BRACKET = 0x5d; // ]

/**
 * The schema and payload texts of a message in exactly the converter's layout, or undefined for
 * anything else (other key order, whitespace between the parts, a non-object schema), which must
 * be read as one document. The parts are only delimited here: each must still be parsed, and a
 * part that does not parse says nothing about the document, which must then be read whole.
 * `likelySchema`, a schema text this function returned before, is compared first: when the text
 * carries it, the scan would end at the same place, and that string itself is returned.
 */
export function splitConnectJson(text: string, likelySchema?: string): ConnectJsonParts | undefined {
  // TRICKY: this relies on the converter's layout, byte for byte: no whitespace around the two
  // keys, schema first, payload last and directly followed by the closing brace. If both parts
  // then parse, the document is exactly `{schema, payload}` and the whole text would parse to them.
  if (!text.startsWith(SCHEMA_PREFIX) || text.charCodeAt(SCHEMA_PREFIX.length) !== OPEN_BRACE) return undefined;
  const known = likelySchema !== undefined && text.startsWith(likelySchema, SCHEMA_PREFIX.length);
  const schemaEnd = known ? SCHEMA_PREFIX.length + likelySchema.length : skipJsonContainer(text, SCHEMA_PREFIX.length);
  if (schemaEnd < 0 || !text.startsWith(PAYLOAD_INFIX, schemaEnd)) return undefined;
  const last = text.length - 1;
  if (text.charCodeAt(last) !== CLOSE_BRACE) return undefined;
  const payload = text.slice(schemaEnd + PAYLOAD_INFIX.length, last);
  const isObject = payload.length >= 2 && payload.charCodeAt(0) === OPEN_BRACE && payload.charCodeAt(payload.length - 1) === CLOSE_BRACE;
  if (!isObject && payload !== 'null') return undefined;
  return { schema: known ? likelySchema : text.slice(SCHEMA_PREFIX.length, schemaEnd), payload };
}

/**
 * The index just past the object or array that opens at `start`, or -1 when the text ends first.
 * It follows nesting and skips strings (with their escapes) and nothing more: it does not
 * validate, so brackets that do not match still count, and what it delimits must be parsed.
 */
export function skipJsonContainer(text: string, start: number): number {
  const end = text.length;
  let depth = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < end; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}
