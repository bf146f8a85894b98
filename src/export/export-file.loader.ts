import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse, type CsvError } from 'csv-parse';
import type { CaacContactRepository } from './caac-contact.repository';

/** The first column of every export file (DESIGN §4.2): CAAC's own stable id of the contact. */
export const CONTACT_ID_COLUMN = 'contact_id';

/** A row of the file that could not be read as a contact: it becomes a dead letter, the rest goes on. */
export interface MalformedRow {
  /**
   * Where: `line N` of the file (what the CSV parser reports), or `record N`, the Nth record read
   * (1 is the header; records the parser skipped are not counted, since numbering every record
   * through the parser's per-record hook would double its cost).
   */
  at: string;
  reason: string;
  /** The row's cells as parsed, as JSON; or what the parser had. */
  content: string;
}

export interface LoadedFile {
  rows: number;
  bytes: number;
  sha256: string;
  malformed: number;
}

/** The file is not an export file at all (no header, or no contact_id first): nothing of it is usable. */
export class ExportFileError extends Error {
  readonly code = 'export_file_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'ExportFileError';
  }
}

/**
 * COPY text format: a backslash, tab, newline or carriage return inside a value must be escaped.
 * JSON text has no raw tabs or line breaks, but its own escapes start with a backslash.
 */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** Counts and hashes the file's bytes as they pass, so the job records what it read. */
class FileMeter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Turns parsed CSV records into COPY lines `contact_id \t fields \t row`, where `row` is the
 * record's position among the file's records (1 is the header): `fields` holds every
 * column after contact_id whose cell is not empty, with the text CAAC wrote (an empty cell is a
 * field the contact lacks or had cleared).
 */
class ContactCopyLines extends Transform {
  rows = 0;
  private columns: string[] | undefined;
  private line = 1;

  constructor(private readonly onMalformed: (row: MalformedRow) => Promise<void>) {
    super({ writableObjectMode: true });
  }

  override _transform(record: string[], _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.columns) {
      if (record[0] !== CONTACT_ID_COLUMN) {
        callback(new ExportFileError(`the export file's first column is "${record[0] ?? ''}", not ${CONTACT_ID_COLUMN}`));
        return;
      }
      this.columns = record;
      return callback();
    }
    this.line++;
    const contactId = record[0] ?? '';
    if (contactId === '' || contactId.includes('\u0000')) {
      this.onMalformed({ at: `record ${this.line}`, reason: `no ${CONTACT_ID_COLUMN}`, content: JSON.stringify(record) }).then(() => callback(), callback);
      return;
    }
    const fields: Record<string, string> = {};
    for (let i = 1; i < record.length; i++) {
      const value = record[i]!;
      if (value === '') continue;
      // TRICKY: Postgres text and jsonb cannot hold U+0000; such a row would fail the whole COPY.
      if (value.includes('\u0000')) {
        this.onMalformed({ at: `record ${this.line}`, reason: `${this.columns[i]} holds a NUL character, which Postgres cannot store`, content: JSON.stringify(record) }).then(
          () => callback(),
          callback,
        );
        return;
      }
      fields[this.columns[i]!] = value;
    }
    this.rows++;
    callback(null, `${copyText(contactId)}\t${copyText(JSON.stringify(fields))}\t${this.line}\n`);
  }
}

/**
 * Streams one export file into the job's staging table: download -> byte count and SHA-256 ->
 * CSV parser -> COPY. Nothing holds more than a few chunks of the file; a malformed row is handed
 * to `onMalformed` (a dead letter) and skipped. Resolves once every row is in the sealed staging
 * table; on any failure the staging table is left incomplete and is rebuilt by the next attempt.
 */
export async function loadExportFile(
  contacts: CaacContactRepository,
  jobId: string,
  file: Readable,
  onMalformed: (row: MalformedRow) => Promise<void>,
  signal: AbortSignal,
): Promise<LoadedFile> {
  const meter = new FileMeter();
  const pendingSkips: Array<Promise<void>> = [];
  let skipped = 0;
  const parser = parse({
    bom: true,
    // A quote inside an unquoted cell is kept as text rather than failing the rest of the file.
    relax_quotes: true,
    skip_records_with_error: true,
    skip_empty_lines: true,
  });
  parser.on('skip', (error: CsvError) => {
    skipped++;
    const record = error.record as string[] | undefined;
    const handled = onMalformed({ at: `line ${typeof error.lines === 'number' ? error.lines : '?'}`, reason: error.message, content: record ? JSON.stringify(record) : '' });
    handled.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    pendingSkips.push(handled);
  });
  const lines = new ContactCopyLines(async (row) => {
    skipped++;
    await onMalformed(row);
  });
  const { client, copy } = await contacts.openStaging(jobId);
  let broken = false;
  try {
    await pipeline(file, meter, parser, lines, copy, { signal });
    await Promise.all(pendingSkips);
    const rows = await contacts.sealStaging(client, jobId);
    return { rows, bytes: meter.bytes, sha256: meter.digest(), malformed: skipped };
  } catch (error) {
    // TRICKY: a COPY cut short leaves the connection mid-protocol; it must not go back to the pool.
    broken = true;
    throw error;
  } finally {
    client.release(broken);
  }
}
