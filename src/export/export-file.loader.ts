import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import type { CaacContactRepository } from './caac-contact.repository';

/** The first column of every export file (DESIGN §4.2): CAAC's own stable id of the contact. */
export const CONTACT_ID_COLUMN = 'contact_id';
/**
 * The largest record the parser holds: a contact of ~20 known and 200 custom fields of 255
 * characters is ~200 KB at most. An unclosed quote makes the rest of the file one record, so
 * this bound is what keeps a hostile file from filling memory; past it the file is refused.
 */
export const EXPORT_MAX_RECORD_BYTES = 1024 * 1024;

const LINE_FEED = 0x0a;

/** The file is not whole or not an export file: nothing of it may reach the mirror. */
export class ExportFileError extends Error {
  readonly code = 'export_file_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'ExportFileError';
  }
}

export interface LoadedFile {
  /** Rows staged as contacts. */
  rows: number;
  /** Rows refused (a NUL, no contact_id, a cell count other than the header's): staged apart. */
  refused: number;
  bytes: number;
  sha256: string;
  /** The header: the columns the file has, contact_id first. */
  columns: string[];
}

/**
 * COPY text format: a backslash, tab, newline or carriage return inside a value must be escaped.
 * JSON text has no raw tabs or line breaks, but its own escapes start with a backslash.
 */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** COPY text of a bytea value: hex, its backslash escaped for COPY. */
function copyBytes(value: string): string {
  return `\\\\x${Buffer.from(value, 'utf8').toString('hex')}`;
}

/** What the parser's error means for the file, said for an operator. */
function fileErrorOf(error: CsvError): ExportFileError {
  const at = typeof error.lines === 'number' ? ` (line ${error.lines})` : '';
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new ExportFileError(`the file ends inside a quoted cell${at}: it is cut short or a quote is never closed`);
    case 'CSV_MAX_RECORD_SIZE':
      return new ExportFileError(`a record is larger than ${EXPORT_MAX_RECORD_BYTES} bytes${at}: an unclosed quote or a broken file`);
    case 'CSV_INVALID_CLOSING_QUOTE':
      return new ExportFileError(`a quoted cell is followed by other text${at}: the file is not valid CSV`);
    default:
      return new ExportFileError(`the file is not valid CSV${at}: ${error.message}`);
  }
}

/**
 * Counts and hashes the file's bytes as they pass, so the job records what it read, and refuses a
 * file that is not UTF-8: the parser would read a broken byte as U+FFFD, and that value would
 * replace the contact's real one in the mirror and on the topic.
 */
class FileMeter extends Transform {
  bytes = 0;
  /** The file's last byte: every row of an export file ends with a line break. */
  lastByte: number | undefined;
  private readonly hash = createHash('sha256');
  // Streaming, so a character split between two chunks is read whole.
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.utf8.decode(chunk, { stream: true });
    } catch {
      callback(new ExportFileError(`the file is not valid UTF-8 (within its bytes ${this.bytes + 1} to ${this.bytes + chunk.length}): it is broken`));
      return;
    }
    this.bytes += chunk.length;
    if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1];
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.utf8.decode();
    } catch {
      callback(new ExportFileError('the file ends inside a UTF-8 character: it is cut short'));
      return;
    }
    callback();
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Turns parsed CSV records into COPY lines of the staging table
 * `contact_id \t fields \t line \t refused \t content`, where `line` is the record's position
 * among the file's records (1 is the header). A contact's `fields` hold every column after
 * contact_id whose cell is not empty, with the text CAAC wrote (an empty cell is a field the contact
 * lacks or had cleared). A row that cannot be read as a contact is staged too, with the reason and
 * its cells, so that it keeps its contact's previous row and becomes a dead letter once the file is
 * known to be whole; going through COPY, it is held back like any row when Postgres is slower.
 */
class StagingLines extends Transform {
  rows = 0;
  refused = 0;
  /** Rows refused for their cell count: most of them means the header does not match the rows. */
  misfits = 0;
  columns: string[] | undefined;
  private line = 1;

  constructor() {
    super({ writableObjectMode: true });
  }

  override _transform(record: string[], _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.columns) {
      callback(this.header(record));
      return;
    }
    this.line++;
    const contactId = record[0] ?? '';
    const refusal = this.refusal(record, contactId);
    if (refusal !== undefined) {
      this.refused++;
      const attributable = contactId !== '' && !contactId.includes('\u0000');
      callback(null, `${attributable ? copyText(contactId) : '\\N'}\t\\N\t${this.line}\t${copyText(refusal)}\t${copyBytes(JSON.stringify(record))}\n`);
      return;
    }
    const fields: Record<string, string> = {};
    for (let i = 1; i < record.length; i++) {
      if (record[i] !== '') fields[this.columns[i]!] = record[i]!;
    }
    this.rows++;
    callback(null, `${copyText(contactId)}\t${copyText(JSON.stringify(fields))}\t${this.line}\t\\N\t\\N\n`);
  }

  private header(record: string[]): Error | undefined {
    if (record[0] !== CONTACT_ID_COLUMN) return new ExportFileError(`the export file's first column is "${record[0] ?? ''}", not ${CONTACT_ID_COLUMN}`);
    const blank = record.findIndex((column) => column.trim() === '' || column.includes('\u0000'));
    if (blank >= 0) return new ExportFileError(`the export file's header has an empty or unreadable column name (column ${blank + 1})`);
    const twice = record.find((column, i) => record.indexOf(column) !== i);
    if (twice !== undefined) return new ExportFileError(`the export file's header names ${JSON.stringify(twice)} twice`);
    this.columns = record;
    return undefined;
  }

  /** Why a data record cannot be staged as a contact, or undefined when it can. */
  private refusal(record: string[], contactId: string): string | undefined {
    if (record.length !== this.columns!.length) {
      this.misfits++;
      return `${record.length} cells where the header has ${this.columns!.length}`;
    }
    if (contactId === '') return `no ${CONTACT_ID_COLUMN}`;
    // TRICKY: Postgres text and jsonb cannot hold U+0000; such a row would fail the whole COPY.
    const nul = record.findIndex((value) => value.includes('\u0000'));
    if (nul >= 0) return `${this.columns![nul]} holds a NUL character, which Postgres cannot store`;
    return undefined;
  }
}

/**
 * Streams one export file into the job's staging table: download -> byte count and SHA-256 ->
 * CSV parser -> COPY, nothing holding more than a few chunks of the file (a record past
 * EXPORT_MAX_RECORD_BYTES refuses the file). Resolves once every row is in the sealed staging
 * table and the file is known to be well formed: a header naming contact_id first, a stream that
 * ended outside any quote and after a line break, rows that mostly fit the header. Otherwise rejects with an
 * ExportFileError saying which check failed; the staging table is then left incomplete and is
 * rebuilt by the next attempt. Whether the rows are all of CAAC's is the caller's check (row_count).
 */
export async function loadExportFile(contacts: CaacContactRepository, jobId: string, file: Readable, signal: AbortSignal): Promise<LoadedFile> {
  const meter = new FileMeter();
  const parser = parse({
    bom: true,
    // A quote inside an unquoted cell is kept as text rather than failing the rest of the file.
    relax_quotes: true,
    // Rows of another width are staged as refused rather than failing the parser.
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: EXPORT_MAX_RECORD_BYTES,
  });
  const lines = new StagingLines();
  const { client, copy } = await contacts.openStaging(jobId);
  let broken = false;
  try {
    try {
      await pipeline(file, meter, parser, lines, copy, { signal });
    } catch (error) {
      throw error instanceof CsvError ? fileErrorOf(error) : error;
    }
    if (!lines.columns) throw new ExportFileError(`the file is empty: no header row in its ${meter.bytes} bytes`);
    const records = lines.rows + lines.refused;
    // A cut inside the last row leaves a row that parses (a shorter value, or fewer cells), and
    // as many rows as CAAC counted: only the missing line break at the end tells.
    if (records > 0 && meter.lastByte !== LINE_FEED) throw new ExportFileError('the file does not end with a line break: its last row is cut short');
    if (lines.misfits > 0 && lines.misfits * 2 > records) {
      throw new ExportFileError(`the header does not match the rows: ${lines.misfits} of ${records} rows have another number of cells than its ${lines.columns.length}`);
    }
    const staged = await contacts.sealStaging(client, jobId);
    if (staged !== records) throw new ExportFileError(`the staging table holds ${staged} rows of the file's ${records}`);
    return { rows: lines.rows, refused: lines.refused, bytes: meter.bytes, sha256: meter.digest(), columns: lines.columns };
  } catch (error) {
    // TRICKY: a COPY cut short leaves the connection mid-protocol; it must not go back to the pool.
    broken = true;
    throw error;
  } finally {
    client.release(broken);
  }
}
