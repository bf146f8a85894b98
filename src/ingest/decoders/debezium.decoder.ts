import { isLosslessNumber, parse as parseLossless } from 'lossless-json';
import {
  KNOWN_FIELDS,
  checkSourceTime,
  emptyRecord,
  hasField,
  isCalendarDate,
  toContactKey,
  toPhoneRegion,
  validateField,
} from '../../profile';
import type { ContactKey, FieldError, FieldValue, KeyType, Patch, PhoneRegion } from '../../profile';
import { decodeError, describeFieldErrors } from './decode-result';
import type { DecodeResult, Decoder } from './decode-result';
import type { Conversion, DebeziumMapping, MappedColumn } from './debezium-mapping';
import { payloadAfterSchema, splitConnectJson } from './connect-json';
import { DEFAULT_MAX_MESSAGE_BYTES, checkJsonStructure, parseJsonMessage, readJsonText } from './json-message';
import type { JsonLimits, JsonReadFailure } from './json-message';
import { closestName } from '../../common/did-you-mean';

export interface DebeziumDecoderOptions {
  /** Region for mobile numbers without a country code, e.g. `TW` (DEFAULT_PHONE_REGION). */
  defaultPhoneRegion: string;
  /** Larger messages are dead-lettered unread [DEFAULT_MAX_MESSAGE_BYTES, 1 MiB]. */
  maxMessageBytes?: number;
  /** A source time further ahead of now is dead-lettered (MAX_FUTURE_SKEW_MS). */
  maxFutureSkewMs: number;
  /**
   * Told once per column when a key or mapped column is missing from a row of the events (`after`
   * of a create, read or update): a typo in the mapping, or a column the connector does not send.
   */
  onAbsentColumn?: (absent: AbsentColumn) => void;
}

/** A mapping's column the events lack, with the row's column it most likely means (a typo). */
export interface AbsentColumn {
  column: string;
  role: 'key' | 'mapped';
  /** A column of the row close to `column`, when there is one. */
  suggestion?: string;
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

// Kafka Connect's DECIMAL (bytes + `scale` parameter) and Debezium's numeric without a fixed scale
// (a struct of scale and bytes): both carry the unscaled value as big-endian two's complement.
const DECIMAL = 'org.apache.kafka.connect.data.Decimal';
const VARIABLE_SCALE_DECIMAL = 'io.debezium.data.VariableScaleDecimal';

/**
 * A decimal's unscaled value longer than this is refused: 128 bytes hold over 300 digits, more than
 * a CAAC value (255 characters) can take, and it bounds the big-integer work a hostile value costs.
 */
const DECIMAL_MAX_BYTES = 128;

const INVALID_DECIMAL = Symbol('invalid decimal');

/** Decimal digits a double always carries exactly (DBL_DIG). */
const DOUBLE_EXACT_DIGITS = 15;

const UNSAFE_NUMBER_REASON =
  'is a number a JSON number cannot carry exactly (an integer beyond 2^53, or more than 15 significant digits); ' +
  'map it to a text field or with "convert": "string" in the mapping, or have the connector send it as text ' +
  '(decimal.handling.mode=string for decimals)';

// TRICKY: Postgres does not log unchanged TOASTed values; Debezium sends this text in their place.
// Sending it would overwrite a real value with a placeholder, so such a column counts as absent.
const UNAVAILABLE_VALUE_PLACEHOLDER = '__debezium_unavailable_value';

/**
 * Schema versions whose logical types a decoder keeps: a topic carries one table, whose schema
 * changes only with its DDL, so a few versions cover a migration's overlap. More are a sign of
 * something else, and the cache is then simply cleared and refilled.
 */
const SCHEMA_CACHE_ENTRIES = 16;

type Row = Record<string, unknown>;

/**
 * A number kept as its decimal text because a double would round it: an integer beyond 2^53 in
 * the event's JSON, or a Kafka Connect decimal. Text fields take the text; number fields take it
 * only when a double holds it exactly.
 */
class ExactNumber {
  constructor(readonly text: string) {}

  /** The number as a double when that is exact, else undefined. */
  toNumber(): number | undefined {
    const value = Number(this.text);
    if (Number.isSafeInteger(value)) return value;
    const digits = this.text.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return digits.length <= DOUBLE_EXACT_DIGITS ? value : undefined;
  }
}

/** A schema text already read: its UTF-8 bytes, and what it says about the mapping (`null`: nothing). */
interface KnownSchema {
  text: string;
  bytes: Buffer;
  logical: LogicalTypes | null;
}

/**
 * The logical types of schemas already read, by the schema's exact text (valid, within the limits,
 * read for this decoder's mapping); `null`: none of the mapped columns has one.
 */
class LogicalTypesCache {
  private readonly byText = new Map<string, KnownSchema>();
  /** The schema of the last event, the one the next event most likely carries too. */
  last: KnownSchema | undefined;

  get(schemaText: string): LogicalTypes | null | undefined {
    const entry = this.byText.get(schemaText);
    if (entry === undefined) return undefined;
    this.last = entry;
    return entry.logical;
  }

  set(schemaText: string, logical: LogicalTypes | null): void {
    if (this.byText.size >= SCHEMA_CACHE_ENTRIES) this.byText.clear();
    // A slice would keep its whole message (payload included) alive as long as the entry: copy it.
    const bytes = Buffer.from(schemaText, 'utf8');
    const text = bytes.toString('utf8');
    const entry = { text, bytes, logical };
    this.byText.set(text, entry);
    this.last = entry;
  }
}

/** What the JSON converter's schema says about the mapped columns (only with the wrapper). */
interface LogicalTypes {
  /** Column -> the conversion `auto` applies. */
  conversions?: Map<string, Conversion>;
  /** Column -> decimal scale (`null`: variable scale, carried with each value). */
  decimals?: Map<string, number | null>;
}

interface Envelope {
  op: string;
  before: Row | null;
  after: Row | null;
  sourceTs: number;
  logical: LogicalTypes | undefined;
  /** The exact text of a number in `before` or `after`, read from the raw event only when asked. */
  exactText: (row: Row, column: string) => string | undefined;
}

/**
 * A decoder for one Debezium topic with its (already parsed) mapping. Throws only for bad options
 * (an unknown phone region); bad events become `error` results. It keeps what the last few
 * JSON-converter schemas it read say about the mapping, so that an event carrying one of them
 * again has only its payload parsed.
 */
export function createDebeziumDecoder(mapping: DebeziumMapping, options: DebeziumDecoderOptions): Decoder {
  const region = toPhoneRegion(options.defaultPhoneRegion);
  const limits: JsonLimits = {
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxDepth: DEBEZIUM_MAX_DEPTH,
    forbiddenKeys: FORBIDDEN_KEYS,
  };
  const { maxFutureSkewMs } = options;
  const schemas = new LogicalTypesCache();
  const watch = options.onAbsentColumn ? absentColumnWatch(mapping, options.onAbsentColumn) : undefined;
  return (value, now) => decode(value, now, mapping, region, limits, maxFutureSkewMs, schemas, watch);
}

/**
 * Checks rows for the mapping's columns until each has been seen or reported once: a column
 * present in a row is never reported, a column missing from one is reported once, with the row's
 * closest column. The check stops costing anything once every column is settled.
 */
function absentColumnWatch(mapping: DebeziumMapping, report: (absent: AbsentColumn) => void): (row: Row) => void {
  const unsettled = new Map<string, AbsentColumn['role']>();
  for (const { column } of mapping.keys) unsettled.set(column, 'key');
  for (const { column } of mapping.columns) if (!unsettled.has(column)) unsettled.set(column, 'mapped');
  return (row) => {
    if (unsettled.size === 0) return;
    for (const [column, role] of unsettled) {
      unsettled.delete(column);
      if (hasField(row, column)) continue;
      const suggestion = closestName(column, Object.keys(row));
      report({ column, role, ...(suggestion !== undefined ? { suggestion } : {}) });
    }
  };
}

/**
 * Decodes one Debezium change event (standard envelope, with or without the JSON converter's
 * schema/payload wrapper) into a contact change:
 * - null value (tombstone), truncate and message events: skipped;
 * - `c`, `r`: every mapped column of `after`;
 * - `u`: the mapped columns whose value differs between `before` and `after` when `before` has
 *   every mapped column `after` has (REPLICA IDENTITY FULL), else every mapped column of `after`;
 *   nothing changed: skipped;
 * - `u` whose key columns give another contact key in `before` than in `after` (a key column
 *   that is not the primary key changed, or a better key was filled in): every mapped column of
 *   `after` under the new key, marked `keyChanged` (a primary-key change comes as `d` + `c`);
 * - `d`: by the mapping's delete_policy, the key taken from `before`.
 * A column holding Debezium's placeholder for an unchanged TOASTed value is treated as absent.
 * Source time is `source.ts_ms` (else the envelope's `ts_ms`), checked by checkSourceTime against
 * `now`. Integers beyond 2^53 are read again from the raw text without loss; decimals (bytes) are
 * decoded when the schema says so. One bad value makes the whole event an error. Pass the same
 * mapping and options objects each time (the decoder built for them is reused), or use
 * createDebeziumDecoder.
 */
export function decodeDebezium(
  value: Buffer | null,
  now: number,
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
  return decoder(value, now);
}

// Decoders built for a mapping and an options object, so that the per-call form costs two lookups.
const decoderCache = new WeakMap<DebeziumMapping, WeakMap<DebeziumDecoderOptions, Decoder>>();

function isRow(value: unknown): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function decode(
  value: Buffer | null,
  now: number,
  mapping: DebeziumMapping,
  region: PhoneRegion,
  limits: JsonLimits,
  maxFutureSkewMs: number,
  schemas: LogicalTypesCache,
  watch?: (row: Row) => void,
): DecodeResult {
  if (value === null) return { kind: 'skip', reason: 'tombstone (null value)' };
  let event = readWithLastSchema(value, limits, schemas);
  if (event === undefined) {
    const read = readJsonText(value, limits);
    if (!read.ok) return decodeError(read.stage, read.errorClass, read.message);
    event = readConverterLayout(read.text, mapping, limits, schemas) ?? readDocument(read.text, mapping, limits);
  }
  if (!event.ok) return decodeError(event.stage, event.errorClass, event.message);
  return decideEnvelope(event.envelope, now, mapping, region, maxFutureSkewMs, watch);
}

/**
 * A Debezium change event already decoded from another encoding (Avro through a Schema Registry),
 * in the shape the JSON converter gives the JSON path, so that the same row gives the same patch
 * whatever the converter: `payload` as the converter's `payload` (bytes as base64 text, numbers as
 * numbers, nullable values as the value or null), `schema` as the converter's `schema` (only the
 * Connect logical names and parameters of the columns matter).
 */
export interface DebeziumRecord {
  payload: unknown;
  /** One object per writer schema: what it says about the mapping is worked out once per object. */
  schema: object;
  /** The exact decimal text of an integer column a double would round, when the encoding has it. */
  exactText?: (side: 'before' | 'after', column: string) => string | undefined;
}

export type DebeziumRecordDecoder = (record: DebeziumRecord, now: number) => DecodeResult;

/** Like createDebeziumDecoder, for events whose bytes another decoder has already read. */
export function createDebeziumRecordDecoder(mapping: DebeziumMapping, options: DebeziumDecoderOptions): DebeziumRecordDecoder {
  const region = toPhoneRegion(options.defaultPhoneRegion);
  const { maxFutureSkewMs } = options;
  const watch = options.onAbsentColumn ? absentColumnWatch(mapping, options.onAbsentColumn) : undefined;
  const logicalBySchema = new WeakMap<object, LogicalTypes | null>();
  return (record, now) => {
    let logical = logicalBySchema.get(record.schema);
    if (logical === undefined) {
      logical = logicalTypes(record.schema, mapping) ?? null;
      logicalBySchema.set(record.schema, logical);
    }
    const exact = record.exactText;
    const envelope = readPayload(record.payload, logical ?? undefined, true, (before) => (row, column) =>
      exact?.(row === before ? 'before' : 'after', column),
    );
    return decideEnvelope(envelope, now, mapping, region, maxFutureSkewMs, watch);
  };
}

/** What an envelope (or what is wrong with it) makes of the event: the rules of decodeDebezium. */
function decideEnvelope(
  envelope: Envelope | null | string,
  now: number,
  mapping: DebeziumMapping,
  region: PhoneRegion,
  maxFutureSkewMs: number,
  watch?: (row: Row) => void,
): DecodeResult {
  if (typeof envelope === 'string') return decodeError('validate', 'InvalidEnvelope', envelope);
  if (envelope === null) return { kind: 'skip', reason: 'tombstone (null payload)' };
  if (envelope.op === 't' || envelope.op === 'm') return { kind: 'skip', reason: `op "${envelope.op}" carries no row change` };
  if (watch !== undefined && envelope.after !== null && envelope.op !== 'd') watch(envelope.after);
  const time = checkSourceTime(envelope.sourceTs, now, maxFutureSkewMs);
  if (!time.ok) return decodeError('validate', 'InvalidSourceTime', `source.ts_ms: ${time.reason}`);

  switch (envelope.op) {
    case 'c':
    case 'r':
      if (envelope.after === null) return decodeError('validate', 'InvalidEnvelope', `op "${envelope.op}" without "after"`);
      return toChange(envelope, envelope.after, mapping.columns, false, mapping, region);
    case 'u': {
      const { before, after } = envelope;
      if (after === null) return decodeError('validate', 'InvalidEnvelope', 'op "u" without "after"');
      const key = findKey(envelope, after, mapping, region);
      if (typeof key === 'string') return decodeError('validate', 'InvalidKey', key);
      const keyChanged = before !== null ? keyChange(envelope, before, key, mapping, region) : undefined;
      // A row that moved to another key is, for CAAC, a contact it has never seen: send all of it.
      const columns =
        keyChanged === undefined && before !== null && isComplete(before, after, mapping)
          ? changedColumns(envelope, before, after, mapping)
          : mapping.columns;
      if (columns.length === 0) return { kind: 'skip', reason: 'no mapped column changed' };
      return toChange(envelope, after, columns, false, mapping, region, key, keyChanged);
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
    default:
      return decodeError('validate', 'InvalidEnvelope', `unknown op "${envelope.op.slice(0, 20)}"`);
  }
}

/** The event's JSON, parsed and checked, read as an envelope (see readEnvelope), or why it is not JSON this decoder reads. */
type EventRead = { ok: true; envelope: Envelope | null | string } | JsonReadFailure;

/** The event read as one JSON document, in any layout. */
function readDocument(text: string, mapping: DebeziumMapping, limits: JsonLimits): EventRead {
  const read = parseJsonMessage(text, limits);
  return read.ok ? { ok: true, envelope: readEnvelope(read.json, text, mapping) } : read;
}

/**
 * The event in the JSON converter's exact layout, its schema parsed and checked only the first
 * time its text is seen, with the same outcome as readDocument; undefined for another layout, or
 * when a part does not parse (then only the whole document's parse error describes it).
 */
function readConverterLayout(text: string, mapping: DebeziumMapping, limits: JsonLimits, schemas: LogicalTypesCache): EventRead | undefined {
  const parts = splitConnectJson(text, schemas.last?.text);
  if (parts === undefined) return undefined;
  let logical = schemas.get(parts.schema);
  let schema: unknown;
  let payload: unknown;
  try {
    if (logical === undefined) schema = JSON.parse(parts.schema);
    payload = JSON.parse(parts.payload);
  } catch {
    return undefined;
  }
  // TRICKY: the whole document's walk reports the first problem in document order, schema before
  // payload, and only once both have parsed; checking them in that order, at the depth and path
  // they have in the document, gives the same error. A cached schema passed that check already.
  if (logical === undefined) {
    const problem = checkJsonStructure(schema, limits, ['schema']);
    if (problem !== undefined) return problem;
    logical = logicalTypes(schema, mapping) ?? null;
    schemas.set(parts.schema, logical);
  }
  return wrappedEvent(payload, logical, limits, () => text);
}

/**
 * The event when it carries, byte for byte, the schema of the last event in the converter's layout:
 * only its payload is decoded to text and parsed. Undefined for anything else, and for a payload
 * that is not UTF-8 or not JSON, so that the whole message is read again and its error is worded
 * as the whole document's; the same outcome as readConverterLayout in every case.
 */
function readWithLastSchema(value: Buffer, limits: JsonLimits, schemas: LogicalTypesCache): EventRead | undefined {
  const known = schemas.last;
  if (known === undefined || value.length > limits.maxMessageBytes) return undefined;
  const bytes = payloadAfterSchema(value, known.bytes);
  if (bytes === undefined) return undefined;
  // The schema's bytes are those of a text already decoded, so the message is UTF-8 if its payload is.
  const text = readJsonText(bytes, limits);
  if (!text.ok) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(text.text);
  } catch {
    return undefined;
  }
  return wrappedEvent(payload, known.logical, limits, () => value.toString('utf8'));
}

/**
 * The converter layout's last step, whichever way its parts were read: the parsed payload checked
 * at the depth and path it has in the document, then read as the envelope. `wholeText` is the
 * event's text, asked for only when a number must be read again without loss.
 */
function wrappedEvent(payload: unknown, logical: LogicalTypes | null, limits: JsonLimits, wholeText: () => string): EventRead {
  const problem = checkJsonStructure(payload, limits, ['payload']);
  if (problem !== undefined) return problem;
  return { ok: true, envelope: readPayload(payload, logical ?? undefined, true, (before) => exactTextReader(wholeText, true, before)) };
}

/** The envelope, `null` for a wrapped tombstone, or what is wrong with it. */
function readEnvelope(json: unknown, text: string, mapping: DebeziumMapping): Envelope | null | string {
  if (!isRow(json)) return 'the event must be a JSON object';
  if (hasField(json, 'payload') && hasField(json, 'schema')) {
    return json.payload === null
      ? null
      : readPayload(json.payload, logicalTypes(json.schema, mapping), true, (before) => exactTextReader(() => text, true, before));
  }
  return readPayload(json, undefined, false, (before) => exactTextReader(() => text, false, before));
}

/**
 * The envelope in `payload` (the whole event, or the wrapper's payload when `wrapped`), `null` for a
 * wrapped tombstone, or what is wrong with it. `exactText` reads a number's exact text from the event's own encoding.
 */
function readPayload(
  payload: unknown,
  logical: LogicalTypes | undefined,
  wrapped: boolean,
  exactText: (before: Row | null) => Envelope['exactText'],
): Envelope | null | string {
  if (wrapped && payload === null) return null;
  if (!isRow(payload)) return 'the payload must be a JSON object';
  const { op, before = null, after = null, source } = payload;
  if (typeof op !== 'string') return '"op" is missing or not a string';
  if (before !== null && !isRow(before)) return '"before" must be an object or null';
  if (after !== null && !isRow(after)) return '"after" must be an object or null';
  let sourceTs: unknown = isRow(source) ? source.ts_ms : undefined;
  // Connectors before Debezium 2.0 (and MongoDB's before 3.1) wrote 0 for a snapshot read's time;
  // the envelope's ts_ms, when Debezium read the row, is the time of that read.
  if (sourceTs === undefined || sourceTs === null || (sourceTs === 0 && op === 'r')) sourceTs = payload.ts_ms;
  if (typeof sourceTs !== 'number' || !Number.isFinite(sourceTs)) return '"source.ts_ms" is missing or not a number';
  return {
    op,
    before: before as Row | null,
    after: after as Row | null,
    sourceTs,
    logical,
    // For JSON, the whole text even for a split event: lossless-json then sees (and refuses) exactly what it did before.
    exactText: exactText(before as Row | null),
  };
}

/**
 * TRICKY: JSON.parse rounds an integer beyond 2^53 to the nearest double, so two customer ids
 * that differ in the last digits would become one contact. Parsing every event losslessly would
 * cost the hot path for a case that is rare, so only a mapped column whose parsed number is
 * beyond 2^53 asks, and then the event is parsed once more, losslessly, for its exact text.
 */
function exactTextReader(text: () => string, wrapped: boolean, before: Row | null): Envelope['exactText'] {
  let payload: Row | undefined;
  return (row, column) => {
    if (payload === undefined) {
      const json = parseLossless(text()) as Row;
      payload = (wrapped ? json.payload : json) as Row;
    }
    const side = payload[row === before ? 'before' : 'after'];
    const value = isRow(side) && hasField(side, column) ? side[column] : undefined;
    return isLosslessNumber(value) ? value.value : undefined;
  };
}

/** What the schema of `after` (or `before`) says about the mapped and key columns. */
function logicalTypes(schema: unknown, mapping: DebeziumMapping): LogicalTypes | undefined {
  if (!isRow(schema) || !Array.isArray(schema.fields)) return undefined;
  const result: LogicalTypes = {};
  for (const part of schema.fields as unknown[]) {
    if (!isRow(part) || (part.field !== 'after' && part.field !== 'before') || !Array.isArray(part.fields)) continue;
    for (const column of part.fields as unknown[]) {
      if (!isRow(column) || typeof column.field !== 'string' || typeof column.name !== 'string') continue;
      if (!mapping.byColumn.has(column.field) && !mapping.keyColumns.has(column.field)) continue;
      const conversion = LOGICAL_CONVERSIONS.get(column.name);
      if (conversion !== undefined) (result.conversions ??= new Map()).set(column.field, conversion);
      else if (column.name === VARIABLE_SCALE_DECIMAL) (result.decimals ??= new Map()).set(column.field, null);
      else if (column.name === DECIMAL) {
        const scale = isRow(column.parameters) ? Number(column.parameters.scale) : NaN;
        if (Number.isSafeInteger(scale)) (result.decimals ??= new Map()).set(column.field, scale);
      }
    }
    break;
  }
  return result.conversions === undefined && result.decimals === undefined ? undefined : result;
}

/** `before` has every mapped column that `after` has (a mapping may name columns a table lacks). */
function isComplete(before: Row, after: Row, mapping: DebeziumMapping): boolean {
  for (const { column } of mapping.columns) if (hasField(after, column) && !hasField(before, column)) return false;
  return true;
}

function changedColumns(envelope: Envelope, before: Row, after: Row, mapping: DebeziumMapping): MappedColumn[] {
  const changed: MappedColumn[] = [];
  for (const column of mapping.columns) {
    if (!hasField(after, column.column) || after[column.column] === UNAVAILABLE_VALUE_PLACEHOLDER) continue;
    if (!sameValue(before[column.column], after[column.column])) changed.push(column);
    // Two integers beyond 2^53 that JSON.parse rounded alike may still differ.
    else if (isUnsafeNumber(after[column.column]) && envelope.exactText(before, column.column) !== envelope.exactText(after, column.column)) {
      changed.push(column);
    }
  }
  return changed;
}

/** The key `before` had, when it differs from `key` (the key of `after`); undefined when the same or unknown. */
function keyChange(
  envelope: Envelope,
  before: Row,
  key: ContactKey,
  mapping: DebeziumMapping,
  region: PhoneRegion,
): { from: KeyType | null } | undefined {
  // A partial `before` (REPLICA IDENTITY DEFAULT) without the key columns says nothing about the old key.
  if (!mapping.keys.some((k) => hasField(before, k.column))) return undefined;
  const old = findKey(envelope, before, mapping, region);
  if (typeof old === 'string') return { from: null };
  return old.type === key.type && old.value === key.value ? undefined : { from: old.type };
}

function isUnsafeNumber(value: unknown): value is number {
  return typeof value === 'number' && (value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER);
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
  knownKey?: ContactKey,
  keyChanged?: { from: KeyType | null },
): DecodeResult {
  const key = knownKey ?? findKey(envelope, row, mapping, region);
  if (typeof key === 'string') return decodeError('validate', 'InvalidKey', key);

  const patch: Patch = emptyRecord<FieldValue | null>();
  let errors: FieldError[] | undefined;
  let fields = 0;
  for (const column of columns) {
    if (!clear && (!hasField(row, column.column) || row[column.column] === UNAVAILABLE_VALUE_PLACEHOLDER)) continue;
    const where = `${column.column} -> ${column.field}`;
    let value: unknown = null;
    if (!clear) {
      const converted = convertColumn(column, readValue(envelope, row, column.column), envelope.logical);
      if (!converted.ok) {
        (errors ??= []).push({ field: where, reason: converted.reason });
        continue;
      }
      value = converted.value;
    }
    const result = validateField(column.field, value, { defaultPhoneRegion: region });
    if (!result.ok) {
      (errors ??= []).push({ field: where, reason: result.reason + dateHint(column, value) });
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
  return {
    kind: 'change',
    change: {
      key,
      patch,
      sourceTs: envelope.sourceTs,
      ...(envelope.op === 'r' ? { snapshot: true } : {}),
      ...(keyChanged !== undefined ? { keyChanged } : {}),
    },
  };
}

/**
 * What to fix when a date field gets an integer: Debezium sends a DATE column as days since
 * 1970, which only `"convert": "date"` (or the schema wrapper, under `auto`) turns into a date.
 */
function dateHint(column: MappedColumn, value: unknown): string {
  if (column.field !== DATE_FIELD || typeof value !== 'number' || !Number.isInteger(value)) return '';
  return `; an integer here looks like days since 1970 (a Debezium DATE): add "convert": "date" to column ${column.column} in the mapping`;
}

/** The one CAAC field that holds a date (YYYY-MM-DD). */
const DATE_FIELD = 'birthday';

/** The first key column, in priority order, with a value that is not null or blank. */
function findKey(envelope: Envelope, row: Row, mapping: DebeziumMapping, region: PhoneRegion): ContactKey | string {
  for (const { column, type } of mapping.keys) {
    if (!hasField(row, column)) continue;
    let raw = readValue(envelope, row, column);
    const mapped = mapping.byColumn.get(column);
    if (mapped !== undefined) {
      const converted = convertColumn(mapped, raw, envelope.logical);
      if (!converted.ok) return `key column ${column}: ${converted.reason}`;
      raw = converted.value;
    }
    if (raw instanceof ExactNumber) raw = raw.text;
    else if (typeof raw === 'number' && Number.isFinite(raw)) raw = String(raw);
    if (raw === null || (typeof raw === 'string' && raw.trim().length === 0)) continue;
    const result = toContactKey(type, raw, region);
    if (!result.ok) return `key column ${column} (${type}): ${result.reason}`;
    return result.key;
  }
  return `no key column has a value (${mapping.keys.map((k) => k.column).join(', ')})`;
}

type Converted = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * A column's value as the event means it: a decimal's bytes decoded, a number a double would round
 * as an ExactNumber (its text read again without loss), anything else as parsed.
 */
function readValue(envelope: Envelope, row: Row, column: string): unknown {
  const raw = row[column];
  if (raw === null || raw === undefined) return raw;
  const decimals = envelope.logical?.decimals;
  if (decimals !== undefined && decimals.has(column)) return decodeDecimal(raw, decimals.get(column)!);
  if (isUnsafeNumber(raw)) {
    const text = envelope.exactText(row, column);
    if (text !== undefined) return new ExactNumber(text);
  }
  return raw;
}

/** A Kafka Connect decimal (base64 bytes, scale from the schema) or a VariableScaleDecimal struct. */
function decodeDecimal(raw: unknown, schemaScale: number | null): ExactNumber | typeof INVALID_DECIMAL {
  let scale: unknown = schemaScale;
  let bytes: unknown = raw;
  if (schemaScale === null) {
    if (!isRow(raw)) return INVALID_DECIMAL;
    ({ scale, value: bytes } = raw);
  }
  // The scale bound keeps the padded text within a CAAC value's reach, like DECIMAL_MAX_BYTES.
  if (typeof bytes !== 'string' || typeof scale !== 'number' || !Number.isSafeInteger(scale) || Math.abs(scale) > DECIMAL_MAX_BYTES * 3) {
    return INVALID_DECIMAL;
  }
  const buffer = Buffer.from(bytes, 'base64');
  if (buffer.length === 0 || buffer.length > DECIMAL_MAX_BYTES) return INVALID_DECIMAL;
  let unscaled = BigInt('0x' + buffer.toString('hex'));
  if (buffer[0]! & 0x80) unscaled -= 1n << BigInt(buffer.length * 8);
  const sign = unscaled < 0n ? '-' : '';
  let digits = (unscaled < 0n ? -unscaled : unscaled).toString();
  if (scale <= 0) return new ExactNumber(sign + digits + '0'.repeat(-scale));
  digits = digits.padStart(scale + 1, '0');
  return new ExactNumber(`${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`);
}

/** A column's value (see readValue) after its values table, its conversion, and text coercion for text fields. */
function convertColumn(column: MappedColumn, raw: unknown, logical: LogicalTypes | undefined): Converted {
  if (raw === null || raw === undefined) return { ok: true, value: null };
  if (column.values !== undefined && (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean' || raw instanceof ExactNumber)) {
    const text = raw instanceof ExactNumber ? raw.text : String(raw);
    if (column.values.has(text)) return { ok: true, value: column.values.get(text) };
  }
  if (raw === INVALID_DECIMAL) return { ok: false, reason: `is not a decimal (base64 bytes, at most ${DECIMAL_MAX_BYTES}, and a scale)` };
  let conversion = column.convert;
  if (conversion === 'auto') conversion = logical?.conversions?.get(column.column) ?? 'none';
  const converted = convert(conversion, raw);
  if (!converted.ok) return converted;
  const kind = KNOWN_FIELDS.get(column.field);
  const text = kind === 'text' || kind === 'key-text' || kind === 'mobile';
  const { value } = converted;
  if (value instanceof ExactNumber) {
    if (text) return { ok: true, value: value.text };
    const number = value.toNumber();
    return number === undefined ? { ok: false, reason: UNSAFE_NUMBER_REASON } : { ok: true, value: number };
  }
  if (typeof value === 'number' && text) return { ok: true, value: String(value) };
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
      if (raw instanceof ExactNumber) return { ok: true, value: raw.text };
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
  // Nanoseconds since the epoch are beyond 2^53; whole milliseconds of them are exact.
  if (raw instanceof ExactNumber && /^-?\d+$/.test(raw.text)) raw = Number(BigInt(raw.text) / BigInt(unitsPerMs)) * unitsPerMs;
  if (typeof raw === 'number' && Number.isFinite(raw)) {
    const date = new Date(Math.floor(raw / unitsPerMs));
    if (!Number.isNaN(date.getTime())) return { ok: true, value: date.toISOString() };
  }
  return { ok: false, reason: 'is not a timestamp' };
}
