import { Readable } from 'node:stream';
import { Pool } from 'pg';
import { CaacContactRepository } from '../../src/export/caac-contact.repository';
import { EXPORT_MAX_RECORD_BYTES, ExportFileError, loadExportFile } from '../../src/export/export-file.loader';
import { freshDatabase } from '../support/database';

describe(loadExportFile.name, () => {
  let pool: Pool;
  let sut: CaacContactRepository;
  let drop: () => Promise<void>;
  let nextJob = 1;

  beforeAll(async () => {
    const database = await freshDatabase('export_loader');
    drop = database.drop;
    pool = new Pool({ connectionString: database.url, max: 3 });
    sut = new CaacContactRepository(pool, '0a1b2c');
    await sut.ensureSchema('default');
  });

  afterAll(async () => {
    await pool?.end();
    await drop?.();
  });

  /** A file in chunks cut at awkward places, as a network delivers it. */
  const aFile = (text: string, chunk = 7) => Readable.from(Array.from({ length: Math.ceil(text.length / chunk) }, (_, i) => Buffer.from(text.slice(i * chunk, (i + 1) * chunk))));

  async function staged(jobId: string): Promise<Array<{ contact_id: string; fields: unknown; line: string }>> {
    return (await pool.query(`SELECT contact_id, fields, line::text AS line FROM caac_contact_load_0a1b2c_${jobId} WHERE refused IS NULL ORDER BY line`)).rows;
  }

  async function refused(jobId: string): Promise<Array<{ contact_id: string | null; line: string; refused: string; content: string }>> {
    return (await pool.query(`SELECT contact_id, line::text AS line, refused, convert_from(content, 'UTF8') AS content FROM caac_contact_load_0a1b2c_${jobId} WHERE refused IS NOT NULL ORDER BY line`)).rows;
  }

  const load = (text: string, chunk?: number) => loadExportFile(sut, String(nextJob++), aFile(text, chunk), new AbortController().signal);

  it('stages every row with its non-empty cells as written, and counts and hashes the bytes', async () => {
    const jobId = String(nextJob++);
    const text = '\uFEFFcontact_id,customer_id,display_name,city\r\nid-1,C-1,"Lin, ""Lucky""\r\nline two",\r\nid-2,C-2,林 🎵,Taipei\r\n';

    const loaded = await loadExportFile(sut, jobId, aFile(text), new AbortController().signal);

    expect(loaded).toEqual({ rows: 2, refused: 0, bytes: Buffer.byteLength(text), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), columns: ['contact_id', 'customer_id', 'display_name', 'city'] });
    await expect(staged(jobId)).resolves.toEqual([
      { contact_id: 'id-1', fields: { customer_id: 'C-1', display_name: 'Lin, "Lucky"\r\nline two' }, line: '2' },
      { contact_id: 'id-2', fields: { customer_id: 'C-2', display_name: '林 🎵', city: 'Taipei' }, line: '3' },
    ]);
  });

  it('stages a row it cannot read apart, with the reason and its cells, and goes on with the rest', async () => {
    const jobId = String(nextJob++);

    const loaded = await loadExportFile(sut, jobId, aFile('contact_id,customer_id\r\nid-1,C-1\r\nid-2,C-2,extra\r\n,C-3\r\nid-4,C-4\r\nid-5,C-\u00005\r\n'), new AbortController().signal);

    expect(loaded).toMatchObject({ rows: 2, refused: 3 });
    await expect(refused(jobId)).resolves.toEqual([
      { contact_id: 'id-2', line: '3', refused: '3 cells where the header has 2', content: '["id-2","C-2","extra"]' },
      { contact_id: null, line: '4', refused: 'no contact_id', content: '["","C-3"]' },
      { contact_id: 'id-5', line: '6', refused: 'customer_id holds a NUL character, which Postgres cannot store', content: '["id-5","C-\\u00005"]' },
    ]);
    await expect(staged(jobId)).resolves.toEqual([
      { contact_id: 'id-1', fields: { customer_id: 'C-1' }, line: '2' },
      { contact_id: 'id-4', fields: { customer_id: 'C-4' }, line: '5' },
    ]);
  });

  it.each([
    ['an empty body', '', /^the file is empty: no header row in its 0 bytes$/],
    ['a byte-order mark alone', '\uFEFF', /^the file is empty: no header row in its 3 bytes$/],
    ['a first column other than contact_id', 'customer_id\r\nC-1\r\n', /first column is "customer_id", not contact_id/],
    ['a column named twice', 'contact_id,city,city\r\nid-1,a,b\r\n', /header names "city" twice/],
    ['an empty column name', 'contact_id,,city\r\nid-1,a,b\r\n', /empty or unreadable column name \(column 2\)/],
    ['an unclosed quote in the last row', 'contact_id,city\r\nid-1,Taipei\r\nid-2,"Tai\r\nid-3,Tainan\r\n', /^the file ends inside a quoted cell \(line \d+\): it is cut short or a quote is never closed$/],
    ['a last row cut inside a cell', 'contact_id,city\r\nid-1,Taipei\r\nid-2,Tai', /^the file does not end with a line break: its last row is cut short$/],
    ['a last row cut between cells', 'contact_id,customer_id,city\r\nid-1,C-1,Taipei\r\nid-2,C-2', /^the file does not end with a line break/],
    ['a trailing comma on every row', 'contact_id,customer_id,city\r\nid-1,C-1,Taipei,\r\nid-2,C-2,Tainan,\r\nid-3,C-3,,\r\n', /^the header does not match the rows: 3 of 3 rows have another number of cells than its 3$/],
  ])('refuses a file with %s, saying which check failed', async (_what, text, reason) => {
    const refusal = load(text);

    await expect(refusal).rejects.toBeInstanceOf(ExportFileError);
    await expect(refusal).rejects.toThrow(reason);
  });

  it('refuses a file that is not UTF-8, and reads one whose characters every chunk splits', async () => {
    const text = Buffer.from('contact_id,city\r\nid-1,台北\r\nid-2,高雄\r\n', 'utf8');
    const inBytes = (bytes: Buffer, chunk: number) =>
      loadExportFile(sut, String(nextJob++), Readable.from(Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk))), new AbortController().signal);
    const broken = Buffer.concat([text.subarray(0, 24), Buffer.from([0xff]), text.subarray(24)]);
    const cut = text.subarray(0, text.length - 3);

    await expect(inBytes(text, 1)).resolves.toMatchObject({ rows: 2, refused: 0 });
    await expect(inBytes(broken, 5)).rejects.toThrow(new ExportFileError('the file is not valid UTF-8 (within its bytes 21 to 25): it is broken'));
    await expect(inBytes(cut, 4)).rejects.toThrow(new ExportFileError('the file ends inside a UTF-8 character: it is cut short'));
  });

  it('reads an unclosed quote followed by a quoted cell as one record: only CAAC\'s row_count tells (the runner checks it)', async () => {
    await expect(load('contact_id,city\r\nid-1,"Tai\r\nid-2,"Tainan"\r\n')).resolves.toMatchObject({ rows: 1, refused: 0 });
  });

  it(`refuses a record larger than ${EXPORT_MAX_RECORD_BYTES} bytes without reading the rest of the file`, async () => {
    const row = `id-x,${'x'.repeat(100)}\r\n`;
    const text = `contact_id,city\r\nid-1,"never closed\r\n${row.repeat(Math.ceil((3 * EXPORT_MAX_RECORD_BYTES) / row.length))}`;

    await expect(load(text, 65_536)).rejects.toThrow(new RegExp(`^a record is larger than ${EXPORT_MAX_RECORD_BYTES} bytes`));
  });
});
