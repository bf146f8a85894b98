import { IMPORT_PATH, OTHER_API_KEY, SandboxHttp, aRow, anImport, pause, startTestSandbox, useTestSandbox } from './sandbox-fixtures';

const WINDOW_MS = 3_000; // the API's minute, scaled
const PER_WINDOW = 15;

describe('Sandbox rate window', () => {
  const ctx = useTestSandbox({ rateWindowMs: WINDOW_MS, ratePerWindow: PER_WINDOW, taskMinMs: 10_000 });

  /** Sends `n` import requests refused with 400 (they count in the window) and returns their statuses. */
  async function badJsonImports(n: number, client = ctx.sut): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((await client.post(IMPORT_PATH, '{')).status);
    return statuses;
  }

  it('answers the 16th import request inside one window 429 with Retry-After until the oldest leaves it', async () => {
    await expect(badJsonImports(PER_WINDOW)).resolves.toEqual(Array(PER_WINDOW).fill(400));

    const refused = await ctx.sut.post(IMPORT_PATH, anImport([aRow()]));

    const { requests } = await ctx.sut.requestLog();
    const oldest = Date.parse(requests[0].at);
    const arrival = Date.parse(requests[PER_WINDOW].at);
    expect(refused).toMatchObject({ status: 429, body: { detail: `rate limit exceeded: at most ${PER_WINDOW} import requests per ${WINDOW_MS} ms` } });
    expect(refused.headers.get('retry-after')).toBe(String(Math.max(1, Math.ceil((oldest + WINDOW_MS - arrival) / 1000))));
    expect(requests[PER_WINDOW]).toMatchObject({ status: 429, api_key_index: 0 });
  });

  it('answers 429 even while an import is running, where a request within the limit gets 409', async () => {
    await ctx.sut.startImport([aRow()]);
    const busy = await Promise.all(Array.from({ length: PER_WINDOW - 1 }, () => ctx.sut.post(IMPORT_PATH, anImport([aRow()]))));

    const refused = await ctx.sut.post(IMPORT_PATH, anImport([aRow()]));

    expect(busy.map((answer) => answer.status)).toEqual(Array(PER_WINDOW - 1).fill(409));
    expect(refused.status).toBe(429);
  });

  it('counts 413 and 422 answers but neither 401 nor 429 answers', async () => {
    const small = await startTestSandbox({ rateWindowMs: WINDOW_MS, ratePerWindow: 3, maxBodyBytes: 100 });
    const client = new SandboxHttp(small.url);
    try {
      const unauthorised = await Promise.all([1, 2, 3, 4].map(() => client.as('wrong').post(IMPORT_PATH, anImport([aRow()]))));
      const counted = [
        await client.post(IMPORT_PATH, anImport([aRow({ display_name: 'x'.repeat(200) })])),
        await client.post(IMPORT_PATH, { import_key: 'nope', data: [] }),
        await client.post(IMPORT_PATH, anImport([aRow()])),
      ];
      const refused = [await client.post(IMPORT_PATH, anImport([aRow()])), await client.post(IMPORT_PATH, anImport([aRow()]))];

      expect(unauthorised.map((answer) => answer.status)).toEqual([401, 401, 401, 401]);
      expect(counted.map((answer) => answer.status)).toEqual([413, 422, 202]);
      expect(refused.map((answer) => answer.status)).toEqual([429, 429]);
    } finally {
      await small.close();
    }
  });

  it('admits again once the oldest counted request is older than the window', async () => {
    await badJsonImports(PER_WINDOW);
    const refused = await ctx.sut.post(IMPORT_PATH, '{');
    expect(refused.status).toBe(429);

    await pause(WINDOW_MS + 50);

    await expect(ctx.sut.post(IMPORT_PATH, '{')).resolves.toMatchObject({ status: 400 });
  });

  it('keeps one window per api key', async () => {
    await badJsonImports(PER_WINDOW);

    await expect(ctx.sut.as(OTHER_API_KEY).post(IMPORT_PATH, '{')).resolves.toMatchObject({ status: 400 });
    await expect(ctx.sut.post(IMPORT_PATH, '{')).resolves.toMatchObject({ status: 429 });
  });

  it('does not limit status, export or list requests', async () => {
    await badJsonImports(PER_WINDOW);

    const others = [await ctx.sut.get(`${IMPORT_PATH}/unknown`), await ctx.sut.get('/cdh/v1/member/export'), await ctx.sut.post('/cdh/v1/member/export', {})];

    expect(others.map((answer) => answer.status)).toEqual([404, 200, 202]);
  });

  it('omits Retry-After when switched off', async () => {
    const quiet = await startTestSandbox({ rateWindowMs: WINDOW_MS, ratePerWindow: 1, retryAfter: false });
    const client = new SandboxHttp(quiet.url);
    try {
      await client.post(IMPORT_PATH, '{');

      const refused = await client.post(IMPORT_PATH, '{');

      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBeNull();
    } finally {
      await quiet.close();
    }
  });
});
