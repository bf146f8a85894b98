import { Readable } from 'node:stream';
import { Pool } from 'pg';
import { CaacContactRepository } from '../../src/export/caac-contact.repository';
import { ExportFileError, loadExportFile, type MalformedRow } from '../../src/export/export-file.loader';
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
    sut = new CaacContactRepository(pool);
    await sut.ensureSchema();
  });

  afterAll(async () => {
    await pool?.end();
    await drop?.();
  });

  /** A file in chunks cut at awkward places, as a network delivers it. */
  const aFile = (text: string, chunk = 7) => Readable.from(Array.from({ length: Math.ceil(text.length / chunk) }, (_, i) => Buffer.from(text.slice(i * chunk, (i + 1) * chunk))));

  async function staged(jobId: string): Promise<Array<{ contact_id: string; fields: unknown; line: string }>> {
    return (await pool.query(`SELECT contact_id, fields, line::text AS line FROM caac_contact_load_${jobId} ORDER BY line`)).rows;
  }

  it('stages every row with its non-empty cells as written, and counts and hashes the bytes', async () => {
    const jobId = String(nextJob++);
    const text = '\uFEFFcontact_id,customer_id,display_name,city\r\nid-1,C-1,"Lin, ""Lucky""\r\nline two",\r\nid-2,C-2,林 🎵,Taipei\r\n';

    const loaded = await loadExportFile(sut, jobId, aFile(text), async () => undefined, new AbortController().signal);

    expect(loaded).toEqual({ rows: 2, bytes: Buffer.byteLength(text), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), malformed: 0 });
    await expect(staged(jobId)).resolves.toEqual([
      { contact_id: 'id-1', fields: { customer_id: 'C-1', display_name: 'Lin, "Lucky"\r\nline two' }, line: '2' },
      { contact_id: 'id-2', fields: { customer_id: 'C-2', display_name: '林 🎵', city: 'Taipei' }, line: '3' },
    ]);
  });

  it('hands a malformed row to onMalformed and goes on with the rest', async () => {
    const jobId = String(nextJob++);
    const malformed: MalformedRow[] = [];

    const loaded = await loadExportFile(
      sut,
      jobId,
      aFile('contact_id,customer_id\r\nid-1,C-1\r\nid-2,C-2,extra\r\n,C-3\r\nid-4,C-4\r\nid-5,C-\u00005\r\n'),
      async (row) => {
        malformed.push(row);
      },
      new AbortController().signal,
    );

    expect(loaded).toMatchObject({ rows: 2, malformed: 3 });
    expect(malformed).toEqual([
      { at: 'line 3', reason: expect.stringContaining('Invalid Record Length: expect 2, got 3'), content: '["id-2","C-2","extra"]' },
      { at: 'record 3', reason: 'no contact_id', content: '["","C-3"]' },
      { at: 'record 5', reason: 'customer_id holds a NUL character, which Postgres cannot store', content: '["id-5","C-\\u00005"]' },
    ]);
    await expect(staged(jobId)).resolves.toEqual([
      { contact_id: 'id-1', fields: { customer_id: 'C-1' }, line: '2' },
      { contact_id: 'id-4', fields: { customer_id: 'C-4' }, line: '4' },
    ]);
  });

  it('refuses a file whose first column is not contact_id', async () => {
    await expect(loadExportFile(sut, String(nextJob++), aFile('customer_id\r\nC-1\r\n'), async () => undefined, new AbortController().signal)).rejects.toBeInstanceOf(ExportFileError);
  });
});
