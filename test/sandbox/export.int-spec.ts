import { parse } from 'csv-parse/sync';
import { EXPORT_PATH, OTHER_API_KEY, SandboxHttp, pause, startTestSandbox, useTestSandbox } from './sandbox-fixtures';

const SEEDED = [
  { customer_id: 'C-1', display_name: 'Ada, "the first"', star_mark: true, cl_custom_score: 12.5 },
  { customer_id: 'C-2', display_email: 'bo@example.com', city: 'Taipei' },
];

describe('Sandbox export', () => {
  const ctx = useTestSandbox();
  beforeEach(async () => {
    await expect(ctx.sut.post('/__sandbox/contacts', { contacts: SEEDED })).resolves.toMatchObject({ status: 200, body: { seeded: 2 } });
  });

  async function exportDone(body: unknown = {}): Promise<any> {
    const accepted = await ctx.sut.post(EXPORT_PATH, body);
    expect(accepted.status).toBe(202);
    return ctx.sut.doneTask('export', accepted.body.task_id);
  }

  it('creates an export whose status gives an absolute, signed download URL and an expiry', async () => {
    const accepted = await ctx.sut.post(EXPORT_PATH, {});
    const pending = await ctx.sut.get(`${EXPORT_PATH}/${accepted.body.task_id}`);
    const done = await ctx.sut.doneTask('export', accepted.body.task_id);
    const [task] = (await ctx.sut.requestLog()).tasks;

    expect(accepted).toMatchObject({ status: 202, body: { task_id: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
    expect(pending.body).toEqual({ task_id: accepted.body.task_id, status: 'pending', created_at: task.accepted_at, updated_at: task.accepted_at });
    expect(done).toEqual({
      task_id: accepted.body.task_id,
      status: 'done',
      created_at: task.accepted_at,
      updated_at: task.finished_at,
      result: {
        row_count: 2,
        download_url: expect.stringMatching(new RegExp(`^${ctx.sandbox.url}/files/exports/${accepted.body.task_id}\\.csv\\?signature=[0-9a-f]{32}$`)),
        expires_at: new Date(Date.parse(task.finished_at) + 7 * 24 * 60 * 60 * 1000).toISOString(),
      },
    });
    expect(task).toMatchObject({ kind: 'export', rows: 2, status: 'done', success: true });
  });

  async function contactIds(...customerIds: string[]): Promise<string[]> {
    return Promise.all(customerIds.map(async (id) => (await ctx.sut.contactWithId('customer_id', id))!.contact_id as string));
  }

  it('downloads contact_id, then every field any contact holds, keys first then sorted, streamed, without an api key', async () => {
    const done = await exportDone();
    const [c1, c2] = await contactIds('C-1', 'C-2');

    const download = await ctx.sut.as(null).get(done.result.download_url);

    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(download.headers.get('transfer-encoding')).toBe('chunked');
    expect(download.body).toBe(
      'contact_id,display_email,customer_id,city,cl_custom_score,display_name,star_mark\r\n' +
        `${c1},,C-1,,12.5,"Ada, ""the first""",true\r\n` +
        `${c2},bo@example.com,C-2,Taipei,,,\r\n`,
    );
  });

  it('shows the contacts as they were SANDBOX_EXPORT_LAG_MS before the request', async () => {
    const lagging = await startTestSandbox({ exportLagMs: 400 });
    const client = new SandboxHttp(lagging.url);
    try {
      await client.post('/__sandbox/contacts', { contacts: [{ customer_id: 'C-1', city: 'Taipei' }, { customer_id: 'C-2' }] });
      const [c1, c2] = [(await client.contactWithId('customer_id', 'C-1'))!.contact_id, (await client.contactWithId('customer_id', 'C-2'))!.contact_id];
      await pause(600);
      await client.importDone([{ customer_id: 'C-1', city: 'Tainan' }, { customer_id: 'C-3' }]);
      await client.post('/__sandbox/contacts/remove', { contacts: [{ customer_id: 'C-2' }] });

      const accepted = await client.post(EXPORT_PATH, { fields: ['customer_id', 'city'] });
      const done = await client.doneTask('export', accepted.body.task_id);
      const download = await client.get(done.result.download_url);

      expect(done.result.row_count).toBe(2);
      expect(parse(download.body, { columns: true })).toEqual([
        { contact_id: c1, customer_id: 'C-1', city: 'Taipei' },
        { contact_id: c2, customer_id: 'C-2', city: '' },
      ]);
    } finally {
      await lagging.close();
    }
  });

  it('writes a CSV that a parser reads back to the contacts: quotes, commas, line breaks, non-ASCII, numbers and booleans', async () => {
    const awkward = [
      { customer_id: 'C-10', display_name: 'line one\nline two', company: 'Lin, "Lucky" & Co.', cl_custom_points: 0, star_mark: false },
      { customer_id: 'C-11', display_name: '林美玲 🎵', address: ' leading and trailing spaces ', cl_custom_points: -12.75 },
    ];
    await expect(ctx.sut.post('/__sandbox/contacts', { contacts: awkward })).resolves.toMatchObject({ status: 200, body: { seeded: 2 } });
    const done = await exportDone({ fields: ['customer_id', 'display_name', 'company', 'address', 'cl_custom_points', 'star_mark'] });

    const download = await ctx.sut.get(done.result.download_url);

    expect(done.result.row_count).toBe(4);
    const [c1, c2, c10, c11] = await contactIds('C-1', 'C-2', 'C-10', 'C-11');
    expect(parse(download.body, { columns: true })).toEqual([
      { contact_id: c1, customer_id: 'C-1', display_name: 'Ada, "the first"', company: '', address: '', cl_custom_points: '', star_mark: 'true' },
      { contact_id: c2, customer_id: 'C-2', display_name: '', company: '', address: '', cl_custom_points: '', star_mark: '' },
      { contact_id: c10, customer_id: 'C-10', display_name: 'line one\nline two', company: 'Lin, "Lucky" & Co.', address: '', cl_custom_points: '0', star_mark: 'false' },
      { contact_id: c11, customer_id: 'C-11', display_name: '林美玲 🎵', address: ' leading and trailing spaces ', company: '', cl_custom_points: '-12.75', star_mark: '' },
    ]);
  });

  it('downloads only the requested fields, in their order', async () => {
    const done = await exportDone({ fields: ['city', 'customer_id', 'age'] });
    const [c1, c2] = await contactIds('C-1', 'C-2');

    await expect(ctx.sut.get(done.result.download_url)).resolves.toMatchObject({ status: 200, body: `contact_id,city,customer_id,age\r\n${c1},,C-1,\r\n${c2},Taipei,C-2,\r\n` });
  });

  it('snapshots the contacts when the export is done', async () => {
    const done = await exportDone();
    await ctx.sut.importDone([{ customer_id: 'C-3' }]);

    const download = await ctx.sut.get(done.result.download_url);

    expect(download.body.split('\r\n')).toHaveLength(4); // header, two contacts, trailing empty
  });

  it('answers 409 to a second export while one runs, and lists exports newest first', async () => {
    const first = await ctx.sut.post(EXPORT_PATH);
    const second = await ctx.sut.post(EXPORT_PATH, {});
    await ctx.sut.doneTask('export', first.body.task_id);
    const third = await ctx.sut.post(EXPORT_PATH, {});

    const list = await ctx.sut.get(EXPORT_PATH);

    expect(second).toMatchObject({ status: 409, body: { detail: 'another export of this api key is pending or processing' } });
    expect(list.status).toBe(200);
    expect(list.body.exports.map((view: { task_id: string }) => view.task_id)).toEqual([third.body.task_id, first.body.task_id]);
    expect(list.body.exports[1]).toMatchObject({ status: 'done', result: { row_count: 2 } });
    await expect(ctx.sut.as(OTHER_API_KEY).get(EXPORT_PATH)).resolves.toMatchObject({ status: 200, body: { exports: [] } });
    await expect(ctx.sut.as(OTHER_API_KEY).get(`${EXPORT_PATH}/${first.body.task_id}`)).resolves.toMatchObject({ status: 404 });
  });

  it('answers 422 to fields that are not field names', async () => {
    const refused = await ctx.sut.post(EXPORT_PATH, { fields: ['city', 'shoe_size', 'city', 3] });

    expect(refused).toEqual({
      status: 422,
      headers: expect.anything(),
      body: {
        detail: [
          { loc: ['body', 'fields', 1], msg: 'shoe_size: unknown field', type: 'value_error' },
          { loc: ['body', 'fields', 2], msg: 'city is listed twice', type: 'value_error' },
          { loc: ['body', 'fields', 3], msg: 'must be a string', type: 'type_error' },
        ],
      },
    });
  });

  it('answers 404 to a wrong signature or id', async () => {
    const done = await exportDone();
    const url = new URL(done.result.download_url);

    await expect(ctx.sut.get(`${url.origin}${url.pathname}?signature=${'0'.repeat(32)}`)).resolves.toMatchObject({ status: 404 });
    await expect(ctx.sut.get(`${url.origin}${url.pathname}`)).resolves.toMatchObject({ status: 404 });
    await expect(ctx.sut.get(`${url.origin}/files/exports/00000000-0000-0000-0000-000000000000.csv${url.search}`)).resolves.toMatchObject({ status: 404 });
  });

  it('answers 410 after expires_at', async () => {
    const shortLived = await startTestSandbox({ exportTtlMs: 100 });
    const client = new SandboxHttp(shortLived.url);
    try {
      const accepted = await client.post(EXPORT_PATH, {});
      const done = await client.doneTask('export', accepted.body.task_id);
      await pause(Math.max(0, Date.parse(done.result.expires_at) - Date.now()) + 20);

      await expect(client.get(done.result.download_url)).resolves.toMatchObject({ status: 410, body: { detail: 'this export file has expired' } });
    } finally {
      await shortLived.close();
    }
  });

  it('uses SANDBOX_PUBLIC_URL as the base of download URLs', async () => {
    const proxied = await startTestSandbox({ publicUrl: 'https://sandbox.example.test' });
    const client = new SandboxHttp(proxied.url);
    try {
      const accepted = await client.post(EXPORT_PATH, {});

      const done = await client.doneTask('export', accepted.body.task_id);

      expect(done.result.download_url).toMatch(/^https:\/\/sandbox\.example\.test\/files\/exports\//);
    } finally {
      await proxied.close();
    }
  });
});
