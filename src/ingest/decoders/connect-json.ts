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

const SCHEMA_PREFIX_BYTES = Buffer.from(SCHEMA_PREFIX, 'utf8');
const PAYLOAD_INFIX_BYTES = Buffer.from(PAYLOAD_INFIX, 'utf8');
const NULL_BYTES = Buffer.from('null', 'utf8');

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
 * The payload's bytes of a message in exactly the converter's layout whose schema is `schema` (the
 * UTF-8 bytes of a schema text splitConnectJson returned before), or undefined for any other
 * message. Bytes are compared before anything is decoded: the schema, most of an event, is neither
 * turned into a string nor checked for UTF-8 again, and the payload is delimited as
 * splitConnectJson delimits it (still to be parsed). A match is exactly splitConnectJson's known
 * case: UTF-8 maps texts to bytes one to one, and every delimiter is ASCII.
 */
export function payloadAfterSchema(value: Buffer, schema: Buffer): Buffer | undefined {
  const schemaStart = SCHEMA_PREFIX_BYTES.length;
  const schemaEnd = schemaStart + schema.length;
  const payloadStart = schemaEnd + PAYLOAD_INFIX_BYTES.length;
  const last = value.length - 1;
  // The shortest payload is an empty object: two bytes, then the closing brace.
  if (last < payloadStart + 2 || value[last] !== CLOSE_BRACE) return undefined;
  if (value.compare(SCHEMA_PREFIX_BYTES, 0, schemaStart, 0, schemaStart) !== 0) return undefined;
  if (value.compare(schema, 0, schema.length, schemaStart, schemaEnd) !== 0) return undefined;
  if (value.compare(PAYLOAD_INFIX_BYTES, 0, PAYLOAD_INFIX_BYTES.length, schemaEnd, payloadStart) !== 0) return undefined;
  const payload = value.subarray(payloadStart, last);
  const isObject = payload[0] === OPEN_BRACE && payload[payload.length - 1] === CLOSE_BRACE;
  return isObject || payload.equals(NULL_BYTES) ? payload : undefined;
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
