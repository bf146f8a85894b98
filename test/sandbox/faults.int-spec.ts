import { EXPORT_PATH, IMPORT_PATH, SandboxHttp, aRow, anImport, pause, startTestSandbox, useTestSandbox } from './sandbox-fixtures';

const INJECTED = [500, 502, 503];

describe('Sandbox faults', () => {
  const ctx = useTestSandbox();

  describe('settings', () => {
    it('replaces the settings and returns them', async () => {
      const faults = { error_rate: { import: 0.5 }, latency_ms: { download: 10 }, storm_429: { rate: 0.2, until_ms: 1_000 }, seed: 3 };
      await ctx.sut.setFaults({ hang_rate: { import: 1 } });

      await expect(ctx.sut.post('/__sandbox/faults', faults)).resolves.toMatchObject({ status: 200, body: faults });
      await expect(ctx.sut.get('/__sandbox/faults')).resolves.toMatchObject({ status: 200, body: faults });
    });

    it('answers 422 listing every bad setting', async () => {
      const refused = await ctx.sut.post('/__sandbox/faults', {
        error_rate: { import: 2, upload: 0.1 },
        storm_429: { rate: 1 },
        row_rules: [{ field: 'city', matches: '(' }],
        typo: true,
      });

      expect(refused.status).toBe(422);
      expect(refused.body.detail.map((issue: { loc: unknown[] }) => issue.loc)).toEqual([
        ['body', 'error_rate', 'import'],
        ['body', 'error_rate', 'upload'],
        ['body', 'storm_429', 'until_ms'],
        ['body', 'row_rules', 0, 'reason'],
        ['body', 'row_rules', 0, 'matches'],
        ['body', 'typo'],
      ]);
      await expect(ctx.sut.get('/__sandbox/faults')).resolves.toMatchObject({ body: {} });
    });
  });

  describe('per endpoint', () => {
    it('answers 500, 502 or 503 before any side effect at error rate 1.0', async () => {
      await ctx.sut.setFaults({ error_rate: { import: 1, import_status: 1, export: 1, export_status: 1 } });

      const answers = [
        await ctx.sut.post(IMPORT_PATH, anImport([aRow()])),
        await ctx.sut.get(`${IMPORT_PATH}/anything`),
        await ctx.sut.post(EXPORT_PATH, {}),
        await ctx.sut.get(`${EXPORT_PATH}/anything`),
        await ctx.sut.get(EXPORT_PATH),
      ];

      for (const answer of answers) expect(INJECTED).toContain(answer.status);
      expect(answers[0].body).toEqual({ detail: `injected ${answers[0].status} on import` });
      await expect(ctx.sut.requestLog()).resolves.toMatchObject({ tasks: [] });
    });

    it('fails downloads at error rate 1.0 on download', async () => {
      const accepted = await ctx.sut.post(EXPORT_PATH, {});
      const done = await ctx.sut.doneTask('export', accepted.body.task_id);
      await ctx.sut.setFaults({ error_rate: { download: 1 } });

      const download = await ctx.sut.get(done.result.download_url);

      expect(INJECTED).toContain(download.status);
    });

    it('delays an answer by the latency', async () => {
      await ctx.sut.setFaults({ latency_ms: { import_status: 300 } });
      const started = Date.now();

      await expect(ctx.sut.get(`${IMPORT_PATH}/anything`)).resolves.toMatchObject({ status: 404 });

      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    });

    it('never answers a hung request, which has no side effect and is logged with status 0', async () => {
      await ctx.sut.setFaults({ hang_rate: { import: 1 } });

      await expect(ctx.sut.post(IMPORT_PATH, anImport([aRow()]), { timeoutMs: 300 })).rejects.toThrow(/aborted due to timeout/);

      const log = await ctx.sut.requestLog();
      expect(log.tasks).toEqual([]);
      expect(log.requests).toEqual([{ at: expect.any(String), method: 'POST', path: IMPORT_PATH, status: 0, api_key_index: 0 }]);
    });
  });

  describe('429 storm', () => {
    it('answers 429 regardless of the window until the storm ends', async () => {
      await ctx.sut.setFaults({ storm_429: { rate: 1, until_ms: 400 } });

      const stormed = await ctx.sut.post(IMPORT_PATH, anImport([aRow()]));
      await pause(450);
      const after = await ctx.sut.post(IMPORT_PATH, anImport([aRow()]));

      expect(stormed).toMatchObject({ status: 429, body: { detail: 'rate limit exceeded (storm)' } });
      expect(stormed.headers.get('retry-after')).toBe('1');
      expect(after.status).toBe(202);
    });

    it('omits Retry-After in a storm when switched off', async () => {
      const quiet = await startTestSandbox({ retryAfter: false });
      const client = new SandboxHttp(quiet.url);
      try {
        await client.setFaults({ storm_429: { rate: 1, until_ms: 5_000 } });

        const stormed = await client.post(IMPORT_PATH, anImport([aRow()]));

        expect(stormed.status).toBe(429);
        expect(stormed.headers.get('retry-after')).toBeNull();
      } finally {
        await quiet.close();
      }
    });
  });

  describe('tasks', () => {
    it('overrides the task duration', async () => {
      await ctx.sut.setFaults({ task_duration_ms: 40 });

      await ctx.sut.startImport([aRow()]);

      const [task] = (await ctx.sut.requestLog()).tasks;
      expect(Date.parse(task.finished_at) - Date.parse(task.accepted_at)).toBe(40);
      expect(task.started_at).toBe(task.finished_at); // the pending time fits within the duration
    });

    it('fails a task as a whole, applying nothing, with one error a row', async () => {
      await ctx.sut.setFaults({ task_failure_rate: 1, task_failure_with_errors: true });

      const result = await ctx.sut.importDone([{ customer_id: 'C-1' }, { customer_id: 'C-2' }]);

      expect(result).toEqual({
        success: false,
        total_num: 2,
        created_num: 0,
        updated_num: 0,
        failed_num: 2,
        errors: [
          { index: 0, key: 'C-1', field: null, reason: 'internal error' },
          { index: 1, key: 'C-2', field: null, reason: 'internal error' },
        ],
      });
      await expect(ctx.sut.contact('customer_id', 'C-1')).resolves.toBeNull();
      await expect(ctx.sut.requestLog()).resolves.toMatchObject({ tasks: [{ status: 'done', success: false }] });
    });

    it('fails a task as a whole without errors when so set', async () => {
      await ctx.sut.setFaults({ task_failure_rate: 1 });

      const result = await ctx.sut.importDone([{ customer_id: 'C-1' }]);

      expect(result).toEqual({ success: false, total_num: 1, created_num: 0, updated_num: 0, failed_num: 1 });
    });

    it('fails the rows a rule matches with its reason and applies the others', async () => {
      await ctx.sut.setFaults({
        row_rules: [
          { field: 'city', equals: 'Atlantis', reason: 'no such city' },
          { field: 'customer_id', matches: '^X-', reason: 'blocked prefix' },
          { field: 'company', reason: 'company is frozen' },
        ],
      });

      const result = await ctx.sut.importDone([
        { customer_id: 'C-1', city: 'Atlantis' },
        { customer_id: 'X-2' },
        { customer_id: 'C-3', company: 'Acme' },
        { customer_id: 'C-4', city: 'Taipei' },
      ]);

      expect(result).toEqual({
        success: false,
        total_num: 4,
        created_num: 1,
        updated_num: 0,
        failed_num: 3,
        errors: [
          { index: 0, key: 'C-1', field: 'city', reason: 'no such city' },
          { index: 1, key: 'X-2', field: 'customer_id', reason: 'blocked prefix' },
          { index: 2, key: 'C-3', field: 'company', reason: 'company is frozen' },
        ],
      });
      await expect(ctx.sut.contact('customer_id', 'C-4')).resolves.toEqual({ customer_id: 'C-4', city: 'Taipei' });
    });
  });

  it('accepts an import, then drops the connection without an answer; the task runs', async () => {
    await ctx.sut.setFaults({ drop_after_accept_rate: 1 });

    await expect(ctx.sut.post(IMPORT_PATH, anImport([{ customer_id: 'C-1' }]))).rejects.toThrow(/fetch failed/);

    const log = await ctx.sut.requestLog();
    expect(log.requests).toEqual([{ at: expect.any(String), method: 'POST', path: IMPORT_PATH, status: 0, rows: 1, task_id: log.tasks[0].task_id, api_key_index: 0 }]);
    await ctx.sut.doneTask('import', log.tasks[0].task_id);
    await expect(ctx.sut.contact('customer_id', 'C-1')).resolves.toEqual({ customer_id: 'C-1' });
  });

  it('replays the same fault sequence from the same seed', async () => {
    const statuses = async () => {
      await ctx.sut.reset();
      await ctx.sut.setFaults({ error_rate: { import_status: 0.5 }, seed: 42 });
      const answers = [];
      for (let i = 0; i < 12; i++) answers.push((await ctx.sut.get(`${IMPORT_PATH}/x`)).status);
      return answers;
    };

    const first = await statuses();
    const second = await statuses();

    expect(second).toEqual(first);
    expect(first).toContain(404);
    expect(first.some((status) => INJECTED.includes(status))).toBe(true);
  });
});
