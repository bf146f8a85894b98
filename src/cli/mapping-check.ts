import { closestName } from '../common/did-you-mean';
import { createDebeziumDecoder, parseDebeziumMapping, type DebeziumMapping, type Decoder } from '../ingest/decoders';

/** A sample value is cut to this many characters in the report: enough to recognise it. */
const SAMPLE_TEXT_MAX = 60;
/** Columns of the events that the mapping leaves out, listed at most this many. */
const UNMAPPED_LISTED_MAX = 30;

/** What the sample said about one column of the mapping. */
export interface ColumnReport {
  column: string;
  /** The CAAC field it maps to (a key column: the key type). */
  field: string;
  role: 'key' | 'mapped';
  /** Rows of the sample that had the column at all. */
  seen: number;
  /** Rows where it held something other than null or blank. */
  withValue: number;
  /** A raw value from the events and what it becomes in CAAC, from the first row with a value. */
  sample?: { raw: string; converted: string };
  /** The first conversion or field-rule error, and how many rows had one. */
  error?: { reason: string; rows: number };
  /** A column of the events close to this one, when it is never seen. */
  didYouMean?: string;
}

export interface MappingCheckReport {
  topic: string;
  mapping: string;
  /** Messages read, and of those the rows (create, read, update, delete) looked at. */
  messages: number;
  rows: number;
  keys: ColumnReport[];
  columns: ColumnReport[];
  /** Rows whose key columns give a usable import key. */
  keyed: number;
  /** The first reason a row had no usable key. */
  keyError?: string;
  /** Columns present in the events that the mapping does not name. */
  unmapped: string[];
  /** One line per reason the mapping is not ready: a column never seen, a conversion failing, rows without a key. */
  problems: string[];
}

type Row = Record<string, unknown>;

/**
 * Checks a Debezium mapping against a sample of its topic's events, column by column, with the
 * service's own decoder: whether each mapped and key column appears, what a value becomes in CAAC
 * or the error it gives, and how many rows have a usable key. Feed it messages with `add`, then
 * read `report`.
 */
export class MappingCheck {
  private readonly mapping: DebeziumMapping;
  private readonly whole: Decoder;
  private readonly perColumn: Array<{ report: ColumnReport; decode: Decoder }>;
  private readonly keyReports: ColumnReport[];
  private readonly eventColumns = new Set<string>();
  private messages = 0;
  private rows = 0;
  private keyed = 0;
  private keyError: string | undefined;

  constructor(
    private readonly topic: string,
    private readonly mappingFile: string,
    mappingJson: unknown,
    options: { defaultPhoneRegion: string; maxFutureSkewMs: number },
  ) {
    this.mapping = parseDebeziumMapping(mappingJson, mappingFile);
    // A row's source time is no concern of this check: any time is accepted.
    const decoderOptions = { defaultPhoneRegion: options.defaultPhoneRegion, maxFutureSkewMs: Number.MAX_SAFE_INTEGER };
    this.whole = createDebeziumDecoder(this.mapping, decoderOptions);
    const json = mappingJson as { keys: unknown[]; fields: Record<string, unknown> };
    // One decoder per column, with the mapping's keys and that column alone, so that one column's
    // error says nothing about another's.
    this.perColumn = this.mapping.columns.map((column) => ({
      report: { column: column.column, field: column.field, role: 'mapped', seen: 0, withValue: 0 },
      decode: createDebeziumDecoder(parseDebeziumMapping({ keys: json.keys, fields: { [column.column]: json.fields[column.column] } }, mappingFile), decoderOptions),
    }));
    this.keyReports = this.mapping.keys.map((key) => ({ column: key.column, field: key.type, role: 'key', seen: 0, withValue: 0 }));
  }

  add(value: Buffer | null): void {
    this.messages++;
    const row = rowOf(value);
    if (row === undefined) return;
    this.rows++;
    for (const column of Object.keys(row)) this.eventColumns.add(column);
    for (const report of this.keyReports) count(report, row);

    const now = Date.now();
    const whole = this.whole(value, now);
    if (whole.kind === 'error' && whole.errorClass === 'InvalidKey') this.keyError ??= whole.message;
    else if (whole.kind !== 'skip' || !whole.reason.startsWith('tombstone')) this.keyed++;
    if (whole.kind === 'change') {
      const { key } = whole.change;
      const report = this.keyReports.find((candidate) => candidate.field === key.type && hasValue(row[candidate.column]));
      if (report && report.sample === undefined) report.sample = { raw: sampleText(row[report.column]), converted: sampleText(key.value) };
    }

    for (const { report, decode } of this.perColumn) {
      count(report, row);
      const result = decode(value, now);
      if (result.kind === 'change') {
        const converted = result.change.patch[report.field];
        if (report.sample === undefined && converted !== undefined && converted !== null && hasValue(row[report.column])) {
          report.sample = { raw: sampleText(row[report.column]), converted: sampleText(converted) };
        }
      } else if (result.kind === 'error' && result.errorClass === 'InvalidField') {
        const prefix = `${report.column} -> ${report.field}: `;
        const reason = result.message.startsWith(prefix) ? result.message.slice(prefix.length) : result.message;
        report.error = { reason: report.error?.reason ?? reason, rows: (report.error?.rows ?? 0) + 1 };
      }
    }
  }

  report(): MappingCheckReport {
    const problems: string[] = [];
    const known = [...this.eventColumns];
    const finish = (report: ColumnReport): ColumnReport => {
      if (this.rows > 0 && report.seen === 0) {
        const suggestion = closestName(report.column, known);
        if (suggestion !== undefined) report.didYouMean = suggestion;
        problems.push(`${report.role} column "${report.column}" never appears in the events${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`);
      }
      if (report.error) problems.push(`column "${report.column}" -> ${report.field}: ${report.error.reason} (${report.error.rows} of ${this.rows} rows)`);
      return report;
    };
    const keys = this.keyReports.map(finish);
    const columns = this.perColumn.map(({ report }) => finish(report));
    if (this.rows === 0) problems.push(`no row change was read from ${this.topic}: nothing to check the mapping against`);
    else if (this.keyed < this.rows) problems.push(`${this.rows - this.keyed} of ${this.rows} rows have no usable import key: ${this.keyError ?? 'see the key columns'}`);
    const mappedNames = new Set([...this.mapping.keys.map((k) => k.column), ...this.mapping.columns.map((c) => c.column)]);
    return {
      topic: this.topic,
      mapping: this.mappingFile,
      messages: this.messages,
      rows: this.rows,
      keys,
      columns,
      keyed: this.keyed,
      ...(this.keyError !== undefined ? { keyError: this.keyError } : {}),
      unmapped: known.filter((column) => !mappedNames.has(column)).sort().slice(0, UNMAPPED_LISTED_MAX),
      problems,
    };
  }
}

/** The row an event changes (`after`, else `before` of a delete), with or without the schema wrapper; undefined for anything else. */
function rowOf(value: Buffer | null): Row | undefined {
  if (value === null) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRow(json)) return undefined;
  const payload = isRow(json.payload) && 'schema' in json ? json.payload : json;
  const row = isRow(payload.after) ? payload.after : isRow(payload.before) ? payload.before : undefined;
  return row;
}

function isRow(value: unknown): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasValue(value: unknown): boolean {
  return value !== null && value !== undefined && !(typeof value === 'string' && value.trim() === '');
}

function count(report: ColumnReport, row: Row): void {
  if (!Object.hasOwn(row, report.column)) return;
  report.seen++;
  if (hasValue(row[report.column])) report.withValue++;
}

function sampleText(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > SAMPLE_TEXT_MAX ? `${text.slice(0, SAMPLE_TEXT_MAX - 1)}…` : text;
}

/** The report as lines for a terminal. */
export function formatMappingCheck(report: MappingCheckReport): string[] {
  const lines = [`topic     ${report.topic}: ${report.messages} messages read, ${report.rows} row changes`, `mapping   ${report.mapping}`];
  const describe = (c: ColumnReport): string => {
    const where = `  ${c.column} -> ${c.field}`.padEnd(40);
    if (c.seen === 0) return `${where} NEVER SEEN${c.didYouMean ? ` (did you mean "${c.didYouMean}"?)` : ''}`;
    const seen = `seen ${c.seen}/${report.rows}, with a value ${c.withValue}`;
    if (c.error) return `${where} ${seen}; ERROR in ${c.error.rows} rows: ${c.error.reason}`;
    return `${where} ${seen}${c.sample ? `; ${c.sample.raw} -> ${c.sample.converted}` : ''}`;
  };
  lines.push('keys      in priority order');
  for (const key of report.keys) lines.push(describe(key));
  lines.push(`  coverage: ${report.keyed}/${report.rows} rows have a usable import key`);
  lines.push('columns');
  for (const column of report.columns) lines.push(describe(column));
  if (report.unmapped.length > 0) lines.push(`unmapped  ${report.unmapped.join(', ')}`);
  if (report.problems.length === 0) lines.push('result    OK: every key and mapped column appears and converts');
  else for (const problem of report.problems) lines.push(`PROBLEM   ${problem}`);
  return lines;
}
