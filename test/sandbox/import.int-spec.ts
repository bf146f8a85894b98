import type { RunningSandbox } from '../../src/sandbox/sandbox.server';
import { connect } from 'node:net';
import { API_KEY, IMPORT_PATH, OTHER_API_KEY, SandboxHttp, aRow, anImport, pause, startTestSandbox, useTestSandbox } from './sandbox-fixtures';

describe('Sandbox import', () => {
  const ctx = useTestSandbox({ maxBodyBytes: 2 * 1024 * 1024 });

  describe('request checks', () => {
    it('refuses 10,001 rows with 422 and accepts 10,000', async () => {
      const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ customer_id: `R-${i}` }));

      const refused = await ctx.sut.post(IMPORT_PATH, anImport(rows(10_001)));
      expect(refused.status).toBe(422);
      expect(refused.body).toEqual({ detail: [{ loc: ['body', 'data'], msg: 'at most 10000 rows per import, got 10001', type: 'value_error' }] });

      const accepted = await ctx.sut.post(IMPORT_PATH, anImport(rows(10_000)));
      expect(accepted.status).toBe(202);
      const task = await ctx.sut.doneTask('import', accepted.body.task_id);
      expect(task.result).toEqual({ success: true, total_num: 10_000, created_num: 10_000, updated_num: 0, failed_num: 0 });
    });

    it('answers 409 to a second import while one is pending or processing, then accepts again', async () => {
      const first = await ctx.sut.startImport([aRow()]);

      const pending = await ctx.sut.post(IMPORT_PATH, anImport([aRow()]));
      expect(pending).toMatchObject({ status: 409, body: { detail: 'another import of this api key is pending or processing' } });

      await ctx.sut.doneTask('import', first);
      await expect(ctx.sut.startImport([aRow()])).resolves.toEqual(expect.any(String));
    });

    it('keeps api keys apart: another key may import meanwhile and cannot see the task', async () => {
      const taskId = await ctx.sut.startImport([aRow()]);
      const other = ctx.sut.as(OTHER_API_KEY);

      await expect(other.startImport([aRow()])).resolves.toEqual(expect.any(String));
      await expect(other.get(`${IMPORT_PATH}/${taskId}`)).resolves.toMatchObject({ status: 404 });
    });

    it('answers 401 to a missing or unknown api key without echoing it', async () => {
      const unknown = await ctx.sut.as('not-a-key-123').post(IMPORT_PATH, anImport([aRow()]));
      const missing = await ctx.sut.as(null).post(IMPORT_PATH, anImport([aRow()]));

      expect(unknown).toMatchObject({ status: 401, body: { detail: 'Invalid or missing api key (header "apikey")' } });
      expect(JSON.stringify(unknown.body)).not.toContain('not-a-key-123');
      expect(missing.status).toBe(401);
    });

    it('answers 413 to a body over the limit, 400 to bad JSON and 422 to a wrong shape', async () => {
      const huge = JSON.stringify(anImport([aRow({ display_name: 'x'.repeat(2 * 1024 * 1024) })]));

      await expect(ctx.sut.post(IMPORT_PATH, huge)).resolves.toMatchObject({ status: 413, body: { detail: 'the request body is larger than 2097152 bytes' } });
      await expect(ctx.sut.post(IMPORT_PATH, '{"import_key": ')).resolves.toMatchObject({ status: 400, body: { detail: expect.stringMatching(/^the request body is not valid JSON/) } });
      await expect(ctx.sut.post(IMPORT_PATH, { import_key: 'age', data: [] })).resolves.toMatchObject({
        status: 422,
        body: {
          detail: [
            { loc: ['body', 'import_key'], msg: 'must be one of line_uid, display_email, display_mobile, connect_id, customer_id', type: 'value_error' },
            { loc: ['body', 'data'], msg: 'must hold at least 1 row', type: 'value_error' },
          ],
        },
      });
      await expect(ctx.sut.post(IMPORT_PATH, { import_key: 'customer_id', data: [aRow(), 'row', null] })).resolves.toMatchObject({
        status: 422,
        body: {
          detail: [
            { loc: ['body', 'data', 1], msg: 'each row must be a JSON object', type: 'type_error' },
            { loc: ['body', 'data', 2], msg: 'each row must be a JSON object', type: 'type_error' },
          ],
        },
      });
    });

    it('answers 404 JSON to an unknown route or task and 405 JSON to a wrong method', async () => {
      await expect(ctx.sut.get('/cdh/v1/member/nothing')).resolves.toMatchObject({ status: 404, body: { detail: 'Not Found' } });
      await expect(ctx.sut.get(`${IMPORT_PATH}/no-such-task`)).resolves.toMatchObject({ status: 404, body: { detail: 'no import task no-such-task' } });
      const wrongMethod = await ctx.sut.get(IMPORT_PATH);
      expect(wrongMethod).toMatchObject({ status: 405, body: { detail: 'Method Not Allowed' } });
      expect(wrongMethod.headers.get('allow')).toBe('POST');
    });
  });

  it('answers 400 JSON to a request line that is not HTTP or a target that is not a path', async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(ctx.sandbox.port, '127.0.0.1', () => socket.end(request));
        let answer = '';
        socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
        socket.on('data', (chunk) => (answer += chunk.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });

    await expect(raw('NONSENSE\r\n\r\n')).resolves.toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\{"detail":"malformed HTTP request"\}$/);
    await expect(raw('GET //cdh/v1/member/export HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')).resolves.toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\{"detail":"malformed request target"\}$/);
  });

  describe('task life', () => {
    // Wide margins here, so a busy machine cannot make a poll miss a phase.
    let slow: RunningSandbox;
    let client: SandboxHttp;
    beforeAll(async () => {
      slow = await startTestSandbox({ taskPendingMs: 400, taskMinMs: 900 });
      client = new SandboxHttp(slow.url);
    });
    afterAll(() => slow.close());

    it('is pending, then processing, then done at accepted_at + duration, with ISO-8601 ms times', async () => {
      const row = aRow({ display_name: 'Ada' });
      const taskId = await client.startImport([row]);

      const pending = await client.get(`${IMPORT_PATH}/${taskId}`);
      await expect(client.contact('customer_id', row.customer_id as string)).resolves.toBeNull();
      await pause(550);
      const processing = await client.get(`${IMPORT_PATH}/${taskId}`);
      const done = await client.doneTask('import', taskId);
      const [task] = (await client.requestLog()).tasks;

      expect(pending.body).toEqual({ task_id: taskId, status: 'pending', created_at: task.accepted_at, updated_at: task.accepted_at });
      expect(processing.body).toEqual({ task_id: taskId, status: 'processing', created_at: task.accepted_at, updated_at: task.started_at });
      expect(done).toEqual({
        task_id: taskId,
        status: 'done',
        created_at: task.accepted_at,
        updated_at: task.finished_at,
        result: { success: true, total_num: 1, created_num: 1, updated_num: 0, failed_num: 0 },
      });
      expect(task.accepted_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Date.parse(task.started_at) - Date.parse(task.accepted_at)).toBe(400);
      expect(Date.parse(task.finished_at) - Date.parse(task.accepted_at)).toBe(900);
      await expect(client.contact('customer_id', row.customer_id as string)).resolves.toEqual(row);
    });

    it('takes rows x per-row time when that is longer than the minimum', async () => {
      const rows = Array.from({ length: 10_000 }, (_, i) => ({ customer_id: `T-${i}` }));
      const perRow = await startTestSandbox({ taskMinMs: 100, taskMsPerRow: 0.05, taskPendingMs: 10 });
      try {
        const perRowClient = new SandboxHttp(perRow.url);
        await perRowClient.startImport(rows);

        const [task] = (await perRowClient.requestLog()).tasks;

        expect(Date.parse(task.finished_at) - Date.parse(task.accepted_at)).toBe(500);
      } finally {
        await perRow.close();
      }
    });
  });

  describe('merge semantics', () => {
    it('creates unmatched contacts, overwrites provided fields, keeps absent ones and clears nulls', async () => {
      const created = await ctx.sut.importDone([
        { customer_id: 'C-1', display_name: 'Ada', city: 'Taipei', cl_custom_tier: 'gold' },
        { customer_id: 'C-2', display_name: 'Bo' },
      ]);
      const updated = await ctx.sut.importDone([
        { customer_id: 'C-1', display_name: 'Ada L.', city: null },
        { customer_id: 'C-3', star_mark: true },
      ]);

      expect(created).toEqual({ success: true, total_num: 2, created_num: 2, updated_num: 0, failed_num: 0 });
      expect(updated).toEqual({ success: true, total_num: 2, created_num: 1, updated_num: 1, failed_num: 0 });
      await expect(ctx.sut.contact('customer_id', 'C-1')).resolves.toEqual({ customer_id: 'C-1', display_name: 'Ada L.', cl_custom_tier: 'gold' });
      await expect(ctx.sut.contact('customer_id', 'C-2')).resolves.toEqual({ customer_id: 'C-2', display_name: 'Bo' });
      await expect(ctx.sut.contact('customer_id', 'C-3')).resolves.toEqual({ customer_id: 'C-3', star_mark: true });
    });

    it('matches on the import key and indexes every key field', async () => {
      await ctx.sut.importDone([{ customer_id: 'C-1', display_email: 'ada@example.com' }]);

      const result = await ctx.sut.importDone([{ display_email: 'ada@example.com', line_uid: 'U-1', display_mobile: '+886912345678' }], 'display_email');

      expect(result).toEqual({ success: true, total_num: 1, created_num: 0, updated_num: 1, failed_num: 0 });
      const expected = { customer_id: 'C-1', display_email: 'ada@example.com', line_uid: 'U-1', display_mobile: '+886912345678' };
      await expect(ctx.sut.contact('line_uid', 'U-1')).resolves.toEqual(expected);
      await expect(ctx.sut.contact('display_mobile', '+886912345678')).resolves.toEqual(expected);
    });

    it('applies rows in order, so a key repeated in one import is created then updated', async () => {
      const result = await ctx.sut.importDone([
        { customer_id: 'C-1', display_name: 'first' },
        { customer_id: 'C-1', company: 'Acme' },
      ]);

      expect(result).toEqual({ success: true, total_num: 2, created_num: 1, updated_num: 1, failed_num: 0 });
      await expect(ctx.sut.contact('customer_id', 'C-1')).resolves.toEqual({ customer_id: 'C-1', display_name: 'first', company: 'Acme' });
    });

    it('clears a non-import key field with null and frees its value', async () => {
      await ctx.sut.importDone([{ customer_id: 'C-1', display_email: 'ada@example.com' }]);
      await ctx.sut.importDone([{ customer_id: 'C-1', display_email: null }]);

      await expect(ctx.sut.contact('display_email', 'ada@example.com')).resolves.toBeNull();
      await expect(ctx.sut.importDone([{ customer_id: 'C-2', display_email: 'ada@example.com' }])).resolves.toMatchObject({ success: true, created_num: 1 });
    });
  });

  describe('row validation', () => {
    it('rejects read-only, unknown and malformed fields per row with reasons while other rows apply', async () => {
      const rows = [
        { customer_id: 'C-1', display_name: 'ok' },
        { customer_id: 'C-2', age: 30 },
        { customer_id: 'C-3', favourite_colour: 'red' },
        { customer_id: 'C-4', display_mobile: '0912345678', birthday: '2023-02-29' },
        { customer_id: 'C-5', gender: 'unknown', region: 'TW', star_mark: 'yes' },
        { customer_id: 'C-6', display_email: 'not-an-address', display_name: 'x'.repeat(256) },
        { customer_id: 'C-7', cl_custom_Bad: 'x', cl_custom_flag: true },
        { customer_id: 'C-8', engagement_level: 'high' },
        { display_name: 'no key' },
        { customer_id: null },
        { customer_id: '   ' },
        { customer_id: 'C-9', birthday: '2024-02-29', gender: 'female', region: 'jp', cl_custom_score: 9.5, cl_custom_since: '2024-01-01T00:00:00Z' },
      ];

      const result = await ctx.sut.importDone(rows);

      expect(result).toEqual({
        success: false,
        total_num: 12,
        created_num: 2,
        updated_num: 0,
        failed_num: 10,
        errors: [
          { index: 1, key: 'C-2', field: 'age', reason: 'read-only field' },
          { index: 2, key: 'C-3', field: 'favourite_colour', reason: 'unknown field' },
          { index: 3, key: 'C-4', field: 'display_mobile', reason: 'not an E.164 phone number' },
          { index: 3, key: 'C-4', field: 'birthday', reason: 'not a calendar date in YYYY-MM-DD' },
          { index: 4, key: 'C-5', field: 'gender', reason: 'must be one of male, female, other' },
          { index: 4, key: 'C-5', field: 'region', reason: 'must be one of tw, jp, th, hk, sg, my, cn, kr, mo, id, in, ph, vn, kh, mm, other' },
          { index: 4, key: 'C-5', field: 'star_mark', reason: 'must be a boolean' },
          { index: 5, key: 'C-6', field: 'display_email', reason: 'not an e-mail address' },
          { index: 5, key: 'C-6', field: 'display_name', reason: 'must be at most 255 characters' },
          { index: 6, key: 'C-7', field: 'cl_custom_Bad', reason: 'invalid custom field name: after cl_custom_ 1 to 50 characters of a-z, 0-9 and _' },
          { index: 6, key: 'C-7', field: 'cl_custom_flag', reason: 'custom values must be strings or numbers' },
          { index: 7, key: 'C-8', field: 'engagement_level', reason: 'read-only field' },
          { index: 8, key: null, field: 'customer_id', reason: 'the import key customer_id is missing' },
          { index: 9, key: null, field: 'customer_id', reason: 'the import key cannot be cleared' },
          { index: 10, key: '   ', field: 'customer_id', reason: 'a key value must not be empty' },
        ],
      });
      await expect(ctx.sut.contact('customer_id', 'C-2')).resolves.toBeNull();
      await expect(ctx.sut.contact('customer_id', 'C-9')).resolves.toEqual(rows[11]);
    });

    it('refuses a key value held by another contact', async () => {
      await ctx.sut.importDone([
        { customer_id: 'C-1', display_email: 'ada@example.com' },
        { customer_id: 'C-2' },
      ]);

      const result = await ctx.sut.importDone([{ customer_id: 'C-2', display_email: 'ada@example.com', display_name: 'Bo' }]);

      expect(result.errors).toEqual([{ index: 0, key: 'C-2', field: 'display_email', reason: 'display_email ada@example.com already belongs to another contact' }]);
      await expect(ctx.sut.contact('customer_id', 'C-2')).resolves.toEqual({ customer_id: 'C-2' });
    });

    it('refuses a row that would leave a contact with more custom fields than allowed', async () => {
      const small = await startTestSandbox({ maxCustomFields: 2 });
      const client = new SandboxHttp(small.url);
      try {
        await client.importDone([{ customer_id: 'C-1', cl_custom_a: 1, cl_custom_b: 2 }]);

        const result = await client.importDone([
          { customer_id: 'C-1', cl_custom_c: 3 },
          { customer_id: 'C-1', cl_custom_a: null, cl_custom_c: 3 },
        ]);

        expect(result).toEqual({
          success: false,
          total_num: 2,
          created_num: 0,
          updated_num: 1,
          failed_num: 1,
          errors: [{ index: 0, key: 'C-1', field: 'cl_custom_c', reason: 'a contact may hold at most 2 custom fields' }],
        });
        await expect(client.contact('customer_id', 'C-1')).resolves.toEqual({ customer_id: 'C-1', cl_custom_b: 2, cl_custom_c: 3 });
      } finally {
        await small.close();
      }
    });
  });

  it('logs each Profile API request with its final status and never the api key', async () => {
    const taskId = await ctx.sut.startImport([aRow(), aRow()]);
    await ctx.sut.as('wrong').post(IMPORT_PATH, anImport([aRow()]));
    await ctx.sut.get(`${IMPORT_PATH}/${taskId}`);

    const { requests } = await ctx.sut.requestLog();

    expect(requests).toEqual([
      { at: expect.any(String), method: 'POST', path: IMPORT_PATH, status: 202, rows: 2, task_id: taskId, api_key_index: 0 },
      { at: expect.any(String), method: 'POST', path: IMPORT_PATH, status: 401 },
      { at: expect.any(String), method: 'GET', path: `${IMPORT_PATH}/${taskId}`, status: 200, api_key_index: 0 },
    ]);
    expect(JSON.stringify(requests)).not.toContain(API_KEY);
  });
});
