/**
 * How one Debezium table maps to CAAC fields. One JSON file per topic, named in SOURCE_TOPICS
 * (`crm.public.customers:debezium:config/customers.mapping.json`), checked once at start by
 * parseDebeziumMapping, which throws one Error listing every problem.
 *
 * ```jsonc
 * {
 *   "description": "optional, free text",
 *   // The columns that identify the contact, in priority order: the first whose value is not
 *   // null or blank is the event's import key. A key column may also appear under "fields".
 *   "keys": [
 *     { "column": "customer_id", "type": "customer_id" },   // type: a CAAC import key type
 *     { "column": "email", "type": "display_email" }
 *   ],
 *   // column -> CAAC field. Columns not listed are ignored. A target is a known CAAC field,
 *   // `custom.<name>` or `cl_custom_<name>` (name: 1-50 of a-z, 0-9, _). Each field at most once.
 *   "fields": {
 *     "name": "display_name",                                // short form: convert "auto"
 *     "birthday": { "field": "birthday", "convert": "date" },
 *     "gender": { "field": "gender", "values": { "M": "male", "F": "female" } },
 *     "opt_in_sms": { "field": "custom.opt_in_sms", "convert": "boolean-string" }
 *   },
 *   // What a delete (op "d") does: "ignore" (default, skipped), "clear" (every mapped field
 *   // except those of key columns set to null), "dead-letter" (the event is an error).
 *   "delete_policy": "ignore"
 * }
 * ```
 *
 * A column's value goes through, in order: its `values` table (looked up by the value as text,
 * e.g. `"M"`, `"true"`, `"1"`; a miss keeps the value), else its `convert`:
 * - `auto` (default): by the column's logical type when the event carries the JSON converter's
 *   schema (`io.debezium.time.Date` and Kafka Connect `Date` -> date; `Timestamp` -> timestamp;
 *   `MicroTimestamp` -> timestamp-micros; `NanoTimestamp` -> timestamp-nanos); else unchanged.
 *   (Whatever the conversion, a Kafka Connect `Decimal` or Debezium `VariableScaleDecimal`, bytes
 *   in the JSON, is first read as the exact decimal it encodes when the schema names it.)
 * - `none`: unchanged.
 * - `date`: days since the epoch (Debezium DATE) -> `YYYY-MM-DD`; a `YYYY-MM-DD` string is kept.
 * - `timestamp` / `timestamp-micros` / `timestamp-nanos`: epoch ms / µs / ns -> ISO-8601 UTC
 *   (millisecond precision); strings (e.g. ZonedTimestamp) are kept.
 * - `string`: numbers and booleans -> their text.
 * - `boolean-string`: `true`/`false` -> `"true"`/`"false"` (custom fields take no booleans).
 * - `lowercase`: text lower-cased.
 * `null` stays `null` (clears the field). Then numbers bound for text fields (including key
 * fields and `display_mobile`) become text, and the value meets the same field rules as any patch.
 *
 * Numbers are never rounded. An integer beyond 2^53 or a decimal with more than 15 significant
 * digits goes to a text field (or through `string`) with every digit, and is an error for a
 * number field (a custom field), whose message says to map it as text. Decimals under the default
 * `decimal.handling.mode` `precise` are bytes: they are read exactly with the schema wrapper
 * (`schemas.enable`); without it, use `decimal.handling.mode` `string` (or `double`).
 */
import {
  CUSTOM_FIELDS_MAX,
  CUSTOM_FIELD_PREFIX,
  KEY_TYPES,
  KNOWN_FIELDS,
  READ_ONLY_FIELDS,
  customField,
  isCustomFieldName,
  isKeyType,
} from '../../profile';
import type { FieldValue, KeyType } from '../../profile';
import { didYouMean } from '../../common/did-you-mean';

export const CONVERSIONS = [
  'auto',
  'none',
  'date',
  'timestamp',
  'timestamp-micros',
  'timestamp-nanos',
  'string',
  'boolean-string',
  'lowercase',
] as const;

export type Conversion = (typeof CONVERSIONS)[number];

export const DELETE_POLICIES = ['ignore', 'clear', 'dead-letter'] as const;

export type DeletePolicy = (typeof DELETE_POLICIES)[number];

export interface KeyColumn {
  column: string;
  type: KeyType;
}

export interface MappedColumn {
  column: string;
  /** The flat CAAC field (`cl_custom_*` for custom fields). */
  field: string;
  convert: Conversion;
  /** Raw value as text -> value to use. */
  values?: ReadonlyMap<string, FieldValue | null>;
}

/** A checked mapping, ready for the decoder. */
export interface DebeziumMapping {
  /** Where the mapping came from (file or topic), for messages. */
  source: string;
  /** In priority order. */
  keys: readonly KeyColumn[];
  columns: readonly MappedColumn[];
  /** Column -> its mapping, for key columns that are also mapped. */
  byColumn: ReadonlyMap<string, MappedColumn>;
  /** Columns whose fields a `clear` delete leaves alone (the key columns). */
  keyColumns: ReadonlySet<string>;
  deletePolicy: DeletePolicy;
}

const TOP_LEVEL = new Set(['description', 'keys', 'fields', 'delete_policy']);
const FIELD_SPEC_PROPS = new Set(['field', 'convert', 'values']);
const CONVERSION_SET: ReadonlySet<string> = new Set(CONVERSIONS);
const DELETE_POLICY_SET: ReadonlySet<string> = new Set(DELETE_POLICIES);
// Column names are used as lookups into decoded rows; these could only mean an attack or a typo.
const FORBIDDEN_COLUMNS = new Set(['__proto__', 'constructor', 'prototype']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `custom.points` or `cl_custom_points` -> `cl_custom_points`; a known field as is. */
function resolveTarget(target: string): { field: string } | { problem: string } {
  let name: string | undefined;
  if (target.startsWith('custom.')) name = target.slice('custom.'.length);
  else if (target.startsWith(CUSTOM_FIELD_PREFIX)) name = target.slice(CUSTOM_FIELD_PREFIX.length);
  if (name !== undefined) {
    return isCustomFieldName(name)
      ? { field: customField(name) }
      : { problem: `"${target}": custom field names must be 1 to 50 characters of a-z, 0-9 and _` };
  }
  if (READ_ONLY_FIELDS.has(target)) return { problem: `"${target}" is read-only in CAAC` };
  if (KNOWN_FIELDS.has(target)) return { field: target };
  return { problem: `"${target}" is not a CAAC field${didYouMean(target, KNOWN_FIELDS.keys())} (custom fields: custom.<name>)` };
}

/**
 * Checks a parsed mapping file and returns it ready for the decoder. Throws one Error naming every
 * problem, each on its own line, prefixed with `sourceName` (the file or topic).
 */
export function parseDebeziumMapping(json: unknown, sourceName: string): DebeziumMapping {
  const problems: string[] = [];
  const keys: KeyColumn[] = [];
  const columns: MappedColumn[] = [];
  let deletePolicy: DeletePolicy = 'ignore';

  if (!isObject(json)) {
    problems.push('the mapping must be a JSON object');
  } else {
    for (const prop of Object.keys(json)) {
      if (!TOP_LEVEL.has(prop)) problems.push(`unknown property "${prop}" (expected keys, fields, delete_policy, description)`);
    }
    if (json.description !== undefined && typeof json.description !== 'string') {
      problems.push('description: must be a string');
    }
    parseKeys(json.keys, keys, problems);
    parseFields(json.fields, columns, problems);
    if (json.delete_policy !== undefined) {
      if (typeof json.delete_policy === 'string' && DELETE_POLICY_SET.has(json.delete_policy)) {
        deletePolicy = json.delete_policy as DeletePolicy;
      } else {
        problems.push(`delete_policy: must be one of ${DELETE_POLICIES.join(', ')}`);
      }
    }
  }

  if (problems.length > 0) {
    throw new Error(`Debezium mapping ${sourceName} is invalid:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  }
  return {
    source: sourceName,
    keys,
    columns,
    byColumn: new Map(columns.map((c) => [c.column, c])),
    keyColumns: new Set(keys.map((k) => k.column)),
    deletePolicy,
  };
}

function checkColumnName(column: unknown, where: string, problems: string[]): column is string {
  if (typeof column !== 'string' || column.length === 0) {
    problems.push(`${where}: the column must be a non-empty string`);
    return false;
  }
  if (FORBIDDEN_COLUMNS.has(column)) {
    problems.push(`${where}: "${column}" is not allowed as a column name`);
    return false;
  }
  return true;
}

function parseKeys(input: unknown, keys: KeyColumn[], problems: string[]): void {
  if (!Array.isArray(input) || input.length === 0) {
    problems.push('keys: must be a non-empty array of { "column", "type" }, in priority order');
    return;
  }
  const seen = new Set<string>();
  input.forEach((entry: unknown, index) => {
    const where = `keys[${index}]`;
    if (!isObject(entry)) {
      problems.push(`${where}: must be an object { "column", "type" }`);
      return;
    }
    for (const prop of Object.keys(entry)) {
      if (prop !== 'column' && prop !== 'type') problems.push(`${where}: unknown property "${prop}"`);
    }
    const columnOk = checkColumnName(entry.column, where, problems);
    const typeOk = typeof entry.type === 'string' && isKeyType(entry.type);
    if (!typeOk) {
      const hint = typeof entry.type === 'string' ? didYouMean(entry.type, KEY_TYPES) : '';
      problems.push(`${where}.type: must be one of line_uid, display_email, display_mobile, connect_id, customer_id${hint}`);
    }
    if (!columnOk || !typeOk) return;
    const column = entry.column as string;
    if (seen.has(column)) problems.push(`${where}: column "${column}" is listed twice`);
    seen.add(column);
    keys.push({ column, type: entry.type as KeyType });
  });
}

function parseFields(input: unknown, columns: MappedColumn[], problems: string[]): void {
  if (!isObject(input) || Object.keys(input).length === 0) {
    problems.push('fields: must be an object with at least one "column": "field" entry');
    return;
  }
  const targets = new Map<string, string>();
  let customCount = 0;
  for (const column of Object.keys(input)) {
    const where = `fields.${column}`;
    if (!checkColumnName(column, where, problems)) continue;
    const spec = input[column];
    let target: unknown;
    let convert: unknown = 'auto';
    let values: unknown;
    if (typeof spec === 'string') {
      target = spec;
    } else if (isObject(spec)) {
      for (const prop of Object.keys(spec)) {
        if (!FIELD_SPEC_PROPS.has(prop)) problems.push(`${where}: unknown property "${prop}" (expected field, convert, values)`);
      }
      target = spec.field;
      convert = spec.convert ?? 'auto';
      values = spec.values;
    } else {
      problems.push(`${where}: must be a field name or { "field", "convert"?, "values"? }`);
      continue;
    }
    if (typeof target !== 'string') {
      problems.push(`${where}.field: must be a string`);
      continue;
    }
    const resolved = resolveTarget(target);
    if ('problem' in resolved) {
      problems.push(`${where}: ${resolved.problem}`);
      continue;
    }
    const { field } = resolved;
    const previous = targets.get(field);
    if (previous !== undefined) problems.push(`${where}: field ${field} is already mapped from column "${previous}"`);
    targets.set(field, column);
    if (field.startsWith(CUSTOM_FIELD_PREFIX)) customCount++;

    if (typeof convert !== 'string' || !CONVERSION_SET.has(convert)) {
      problems.push(`${where}.convert: must be one of ${CONVERSIONS.join(', ')}${typeof convert === 'string' ? didYouMean(convert, CONVERSIONS) : ''}`);
      continue;
    }
    const table = parseValues(values, where, problems);
    columns.push({ column, field, convert: convert as Conversion, ...(table ? { values: table } : {}) });
  }
  if (customCount > CUSTOM_FIELDS_MAX) {
    problems.push(`fields: at most ${CUSTOM_FIELDS_MAX} custom fields, got ${customCount}`);
  }
}

function parseValues(
  input: unknown,
  where: string,
  problems: string[],
): ReadonlyMap<string, FieldValue | null> | undefined {
  if (input === undefined) return undefined;
  if (!isObject(input)) {
    problems.push(`${where}.values: must be an object mapping raw values to field values`);
    return undefined;
  }
  const table = new Map<string, FieldValue | null>();
  for (const raw of Object.keys(input)) {
    const value = input[raw];
    if (value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      table.set(raw, value);
    } else {
      problems.push(`${where}.values.${raw}: must be a string, a number, a boolean or null`);
    }
  }
  return table;
}
