import { KNOWN_FIELDS, emptyRecord, hasField, isCalendarDate, toContactKey, toPhoneRegion, validateField } from '../../profile';
import type { ContactKey, FieldError, FieldValue, Patch, PhoneRegion } from '../../profile';
import { decodeError, describeFieldErrors } from './decode-result';
import type { DecodeResult, Decoder } from './decode-result';
import type { Conversion, DebeziumMapping, MappedColumn } from './debezium-mapping';
import { DEFAULT_MAX_MESSAGE_BYTES, readJsonMessage } from './json-message';
import type { JsonLimits } from './json-message';

export interface DebeziumDecoderOptions {
  /** Region for mobile numbers without a country code, e.g. `TW` (DEFAULT_PHONE_REGION). */
  defaultPhoneRegion: string;
  /** Larger messages are dead-lettered unread [DEFAULT_MAX_MESSAGE_BYTES, 1 MiB]. */
  maxMessageBytes?: number;
}

/**
 * The JSON converter's schema is the deepest part of an event: envelope schema -> fields ->
 * before/after struct -> fields -> column -> parameters -> values. Rows themselves are flat.
 */
export const DEBEZIUM_MAX_DEPTH = 10;

// Only `__proto__` is refused: a table may well have a column named `constructor`, and rows are
// read with own-property checks, so other names cannot reach a prototype.
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__']);

const MS_PER_DAY = 86_400_000;
/** The range of a JavaScript Date, in days either side of the epoch. */
const MAX_EPOCH_DAYS = 100_000_000;

// Logical type names (JSON converter schema) -> the conversion `auto` applies.
const LOGICAL_CONVERSIONS: ReadonlyMap<string, Conversion> = new Map<string, Conversion>([
  ['io.debezium.time.Date', 'date'],
  ['org.apache.kafka.connect.data.Date', 'date'],
  ['io.debezium.time.Timestamp', 'timestamp'],
  ['org.apache.kafka.connect.data.Timestamp', 'timestamp'],
  ['io.debezium.time.MicroTimestamp', 'timestamp-micros'],
  ['io.debezium.time.NanoTimestamp', 'timestamp-nanos'],
]);

// TRICKY: Postgres does not log unchanged TOASTed values; Debezium sends this text in their place.
// Sending it would overwrite a real value with a placeholder, so such a column counts as absent.
const UNAVAILABLE_VALUE_PLACEHOLDER = '__debezium_unavailable_value';

type Row = Record<string, unknown>;

interface Envelope {
  op: string;
  before: Row | null;
  after: Row | null;
  sourceTs: number;
  /** Column -> conversion from the schema's logical types, only with the schema wrapper. */
  logical: ReadonlyMap<string, Conversion> | undefined;
}

/**
 * A decoder for one Debezium topic with its (already parsed) mapping. Throws only for bad options
 * (an unknown phone region); bad events become `error` results.
 */
export function createDebeziumDecoder(mapping: DebeziumMapping, options: DebeziumDecoderOptions): Decoder {
  const region = toPhoneRegion(options.defaultPhoneRegion);
  const limits: JsonLimits = {
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxDepth: DEBEZIUM_MAX_DEPTH,
    forbiddenKeys: FORBIDDEN_KEYS,
  };
  return (value) => decode(value, mapping, region, limits);
}

/**
 * Decodes one Debezium change event (standard envelope, with or without the JSON converter's
 * schema/payload wrapper) into a contact change:
 * - null value (tombstone), truncate and message events: skipped;
 * - `c`, `r`: every mapped column of `after`;
 * - `u`: the mapped columns whose value differs between `before` and `after` when `before` has
 *   every mapped column `after` has (REPLICA IDENTITY FULL), else every mapped column of `after`;
 *   nothing changed: skipped;
 * - `d`: by the mapping's delete_policy, the key taken from `before`.
 * A column holding Debezium's placeholder for an unchanged TOASTed value is treated as absent.
 * Source time is `source.ts_ms` (else the envelope's `ts_ms`). One bad value makes the whole
 * event an error. Pass the same mapping and options objects each time (the decoder built for
 * them is reused), or use createDebeziumDecoder.
 */
export function decodeDebezium(
  value: Buffer | null,
  mapping: DebeziumMapping,
  options: DebeziumDecoderOptions,
): DecodeResult {
  let byOptions = decoderCache.get(mapping);
  if (byOptions === undefined) {
    byOptions = new WeakMap();
    decoderCache.set(mapping, byOptions);
  }
  let decoder = byOptions.get(options);
  if (decoder === undefined) {
    decoder = createDebeziumDecoder(mapping, options);
    byOptions.set(options, decoder);
  }
  return decoder(value);
}

// Decoders built for a mapping and an options object, so that the per-call form costs two lookups.
const decoderCache = new WeakMap<DebeziumMapping, WeakMap<DebeziumDecoderOptions, Decoder>>();

function isRow(value: unknown): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function decode(value: Buffer | null, mapping: DebeziumMapping, region: PhoneRegion, limits: JsonLimits): DecodeResult {
  if (value === null) return { kind: 'skip', reason: 'tombstone (null value)' };
  const read = readJsonMessage(value, limits);
  if (!read.ok) return decodeError(read.stage, read.errorClass, read.message);
  const envelope = readEnvelope(read.json, mapping);
  if (typeof envelope === 'string') return decodeError('validate', 'InvalidEnvelope', envelope);
  if (envelope === null) return { kind: 'skip', reason: 'tombstone (null payload)' };

  switch (envelope.op) {
    case 'c':
    case 'r':
      if (envelope.after === null) return decodeError('validate', 'InvalidEnvelope', `op "${envelope.op}" without "after"`);
      return toChange(envelope, envelope.after, mapping.columns, false, mapping, region);
    case 'u': {
      const { before, after } = envelope;
      if (after === null) return decodeError('validate', 'InvalidEnvelope', 'op "u" without "after"');
      const columns = before !== null && isComplete(before, after, mapping) ? changedColumns(before, after, mapping) : mapping.columns;
      if (columns.length === 0) return { kind: 'skip', reason: 'no mapped column changed' };
      return toChange(envelope, after, columns, false, mapping, region);
    }
    case 'd':
      if (mapping.deletePolicy === 'ignore') return { kind: 'skip', reason: 'delete ignored (delete_policy ignore)' };
      if (mapping.deletePolicy === 'dead-letter') {
        return decodeError('validate', 'DeleteRejected', `deletes are dead-lettered by ${mapping.source} (delete_policy dead-letter)`);
      }
      if (envelope.before === null) return decodeError('validate', 'InvalidEnvelope', 'op "d" without "before"');
      return toChange(
        envelope,
        envelope.before,
        mapping.columns.filter((c) => !mapping.keyColumns.has(c.column)),
        true,
        mapping,
        region,
      );
    case 't':
    case 'm':
      return { kind: 'skip', reason: `op "${envelope.op}" carries no row change` };
    default:
      return decodeError('validate', 'InvalidEnvelope', `unknown op "${envelope.op.slice(0, 20)}"`);
  }
}

/** The envelope, `null` for a wrapped tombstone, or what is wrong with it. */
function readEnvelope(json: unknown, mapping: DebeziumMapping): Envelope | null | string {
  if (!isRow(json)) return 'the event must be a JSON object';
  let payload: unknown = json;
  let logical: ReadonlyMap<string, Conversion> | undefined;
  if (hasField(json, 'payload') && hasField(json, 'schema')) {
    payload = json.payload;
    if (payload === null) return null;
    logical = logicalConversions(json.schema, mapping);
  }
  if (!isRow(payload)) return 'the payload must be a JSON object';
  const { op, before = null, after = null, source } = payload;
  if (typeof op !== 'string') return '"op" is missing or not a string';
  if (before !== null && !isRow(before)) return '"before" must be an object or null';
  if (after !== null && !isRow(after)) return '"after" must be an object or null';
  let sourceTs: unknown = isRow(source) ? source.ts_ms : undefined;
  if (sourceTs === undefined || sourceTs === null) sourceTs = payload.ts_ms;
  if (typeof sourceTs !== 'number' || !Number.isFinite(sourceTs)) return '"source.ts_ms" is missing or not a number';
  return { op, before, after, sourceTs, logical };
}

/** Column -> conversion from the logical types in the schema of `after` (or `before`). */
function logicalConversions(schema: unknown, mapping: DebeziumMapping): ReadonlyMap<string, Conversion> | undefined {
  if (!isRow(schema) || !Array.isArray(schema.fields)) return undefined;
  let result: Map<string, Conversion> | undefined;
  for (const part of schema.fields as unknown[]) {
    if (!isRow(part) || (part.field !== 'after' && part.field !== 'before') || !Array.isArray(part.fields)) continue;
    for (const column of part.fields as unknown[]) {
      if (!isRow(column) || typeof column.field !== 'string' || typeof column.name !== 'string') continue;
      const conversion = LOGICAL_CONVERSIONS.get(column.name);
      if (conversion !== undefined && (mapping.byColumn.has(column.field) || mapping.keyColumns.has(column.field))) {
        (result ??= new Map()).set(column.field, conversion);
      }
    }
    return result;
  }
  return result;
}

/** `before` has every mapped column that `after` has (a mapping may name columns a table lacks). */
function isComplete(before: Row, after: Row, mapping: DebeziumMapping): boolean {
  for (const { column } of mapping.columns) if (hasField(after, column) && !hasField(before, column)) return false;
  return true;
}

function changedColumns(before: Row, after: Row, mapping: DebeziumMapping): MappedColumn[] {
  const changed: MappedColumn[] = [];
  for (const column of mapping.columns) {
    if (!hasField(after, column.column) || after[column.column] === UNAVAILABLE_VALUE_PLACEHOLDER) continue;
    if (!sameValue(before[column.column], after[column.column])) changed.push(column);
  }
  return changed;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Structured columns (arrays, Debezium structs) compare by content; scalars already compared.
  return typeof a === 'object' && typeof b === 'object' && a !== null && b !== null && JSON.stringify(a) === JSON.stringify(b);
}

function toChange(
  envelope: Envelope,
  row: Row,
  columns: readonly MappedColumn[],
  clear: boolean,
  mapping: DebeziumMapping,
  region: PhoneRegion,
): DecodeResult {
  const key = findKey(row, mapping, envelope.logical, region);
  if (typeof key === 'string') return decodeError('validate', 'InvalidKey', key);

  const patch: Patch = emptyRecord<FieldValue | null>();
  let errors: FieldError[] | undefined;
  let fields = 0;
  for (const column of columns) {
    if (!clear && (!hasField(row, column.column) || row[column.column] === UNAVAILABLE_VALUE_PLACEHOLDER)) continue;
    const where = `${column.column} -> ${column.field}`;
    let value: unknown = null;
    if (!clear) {
      const converted = convertColumn(column, row[column.column], envelope.logical);
      if (!converted.ok) {
        (errors ??= []).push({ field: where, reason: converted.reason });
        continue;
      }
      value = converted.value;
    }
    const result = validateField(column.field, value, { defaultPhoneRegion: region });
    if (!result.ok) {
      (errors ??= []).push({ field: where, reason: result.reason });
    } else if (column.field === key.type) {
      // The key field travels with every import item anyway; only a contradiction matters.
      if (result.value !== key.value) (errors ??= []).push({ field: where, reason: `differs from the key (${key.type})` });
    } else {
      patch[column.field] = result.value;
      fields++;
    }
  }
  if (errors !== undefined) return decodeError('validate', 'InvalidField', describeFieldErrors(errors));
  if (fields === 0) return { kind: 'skip', reason: 'no mapped field to send' };
  return { kind: 'change', change: { key, patch, sourceTs: envelope.sourceTs, ...(envelope.op === 'r' ? { snapshot: true } : {}) } };
}

/** The first key column, in priority order, with a value that is not null or blank. */
function findKey(
  row: Row,
  mapping: DebeziumMapping,
  logical: ReadonlyMap<string, Conversion> | undefined,
  region: PhoneRegion,
): ContactKey | string {
  for (const { column, type } of mapping.keys) {
    if (!hasField(row, column)) continue;
    let raw = row[column];
    const mapped = mapping.byColumn.get(column);
    if (mapped !== undefined) {
      const converted = convertColumn(mapped, raw, logical);
      if (!converted.ok) return `key column ${column}: ${converted.reason}`;
      raw = converted.value;
    }
    if (typeof raw === 'number' && Number.isFinite(raw)) raw = String(raw);
    if (raw === null || (typeof raw === 'string' && raw.trim().length === 0)) continue;
    const result = toContactKey(type, raw, region);
    if (!result.ok) return `key column ${column} (${type}): ${result.reason}`;
    return result.key;
  }
  return `no key column has a value (${mapping.keys.map((k) => k.column).join(', ')})`;
}

type Converted = { ok: true; value: unknown } | { ok: false; reason: string };

/** A column's raw value after its values table, its conversion, and text coercion for text fields. */
function convertColumn(column: MappedColumn, raw: unknown, logical: ReadonlyMap<string, Conversion> | undefined): Converted {
  if (raw === null || raw === undefined) return { ok: true, value: null };
  if (column.values !== undefined && (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean')) {
    const text = String(raw);
    if (column.values.has(text)) return { ok: true, value: column.values.get(text) };
  }
  let conversion = column.convert;
  if (conversion === 'auto') conversion = logical?.get(column.column) ?? 'none';
  const converted = convert(conversion, raw);
  if (!converted.ok) return converted;
  const kind = KNOWN_FIELDS.get(column.field);
  if (typeof converted.value === 'number' && (kind === 'text' || kind === 'key-text' || kind === 'mobile')) {
    return { ok: true, value: String(converted.value) };
  }
  return converted;
}

function convert(conversion: Conversion, raw: unknown): Converted {
  switch (conversion) {
    case 'auto':
    case 'none':
      return { ok: true, value: raw };
    case 'date':
      if (typeof raw === 'string') {
        return isCalendarDate(raw) ? { ok: true, value: raw } : { ok: false, reason: 'is not a date (YYYY-MM-DD)' };
      }
      if (typeof raw === 'number' && Number.isInteger(raw) && Math.abs(raw) <= MAX_EPOCH_DAYS) {
        return { ok: true, value: new Date(raw * MS_PER_DAY).toISOString().slice(0, 10) };
      }
      return { ok: false, reason: 'is not a date (days since the epoch)' };
    case 'timestamp':
      return toIso(raw, 1);
    case 'timestamp-micros':
      return toIso(raw, 1_000);
    case 'timestamp-nanos':
      return toIso(raw, 1_000_000);
    case 'string':
      return typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean'
        ? { ok: true, value: String(raw) }
        : { ok: false, reason: 'cannot be turned into text' };
    case 'boolean-string':
      if (typeof raw === 'boolean') return { ok: true, value: raw ? 'true' : 'false' };
      return typeof raw === 'string' ? { ok: true, value: raw } : { ok: false, reason: 'is not a boolean' };
    case 'lowercase':
      return { ok: true, value: typeof raw === 'string' ? raw.toLowerCase() : raw };
  }
}

function toIso(raw: unknown, unitsPerMs: number): Converted {
  if (typeof raw === 'string') return { ok: true, value: raw };
  if (typeof raw === 'number' && Number.isFinite(raw)) {
    const date = new Date(Math.floor(raw / unitsPerMs));
    if (!Number.isNaN(date.getTime())) return { ok: true, value: date.toISOString() };
  }
  return { ok: false, reason: 'is not a timestamp' };
}
