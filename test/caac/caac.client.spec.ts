import { inspect } from 'node:util';
import { CaacClient, importIntervalMs, retryDelayMs, type BreakerState, type CaacClientOptions } from '../../src/caac/caac.client';
import { CaacError } from '../../src/caac/caac.errors';
import type { ImportRow } from '../../src/caac/caac.types';
import { aClient, clientOptions, drive, memoryLogger, rejection, ScriptedServer, TEST_API_KEY } from './caac-test-server';
import { FakeClock } from './fake-clock';

class SleepRecordingClock extends FakeClock {
  readonly recorded: number[] = [];
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.recorded.push(ms);
    return super.sleep(ms, signal);
  }
}

const rows = (n: number, from = 0): ImportRow[] => Array.from({ length: n }, (_, i) => ({ customer_id: `C-${from + i}`, display_name: `Name ${from + i}` }));
const accepted = (taskId = 'task-1') => ({ status: 202, body: { task_id: taskId } });
const aTask = (overrides: Record<string, unknown> = {}) => ({ task_id: 'task-1', status: 'pending', created_at: '2026-11-28T10:00:00.000Z', updated_at: '2026-11-28T10:00:00.000Z', ...overrides });

describe(CaacClient.name, () => {
  let clock: SleepRecordingClock;
  let server: ScriptedServer;
  const clients: CaacClient[] = [];

  beforeEach(async () => {
    clock = new SleepRecordingClock();
    server = await new ScriptedServer(clock).start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  /** The test clock's time of every request the client sent. */
  let sentAt: number[];
  const recordingFetch: typeof fetch = (input, init) => {
    sentAt.push(clock.now());
    return fetch(input, init);
  };

  function aSut(overrides: Partial<CaacClientOptions> = {}, logger = memoryLogger().logger): CaacClient {
    sentAt = [];
    const client = aClient(clock, clientOptions(server.url, overrides), { fetch: recordingFetch }, logger);
    clients.push(client);
    return client;
  }

  /** Advances the test clock until `condition` holds (the client waits on it for tokens). */
  async function until(condition: () => boolean): Promise<void> {
    for (let step = 0; step < 5_000 && !condition(); step++) {
      await new Promise<void>((resolve) => setTimeout(resolve, 1));
      if (!condition()) await clock.advance(10);
    }
    expect(condition()).toBe(true);
  }

  describe('requests', () => {
    it('posts an import with the key only in the apikey header and resolves with the task id', async () => {
      const sut = aSut();
      server.script(accepted('t-42'));

      await expect(sut.importProfiles('customer_id', rows(2))).resolves.toEqual({ taskId: 't-42' });

      expect(server.received).toHaveLength(1);
      const [request] = server.received;
      expect(request).toMatchObject({ method: 'POST', path: '/cdh/v1/member/import' });
      expect(request!.headers.apikey).toBe(TEST_API_KEY);
      expect(request!.headers['content-type']).toBe('application/json');
      expect(JSON.parse(request!.body)).toEqual({
        import_key: 'customer_id',
        data: [
          { customer_id: 'C-0', display_name: 'Name 0' },
          { customer_id: 'C-1', display_name: 'Name 1' },
        ],
      });
    });

    it('reads an import task, tolerating extra fields and mapping the result', async () => {
      const sut = aSut();
      server.script({
        status: 200,
        body: aTask({
          status: 'done',
          extra: 'ignored',
          result: { success: false, total_num: 2, created_num: 1, updated_num: 0, failed_num: 1, errors: [{ index: 1, key: 'C-1', field: 'gender', reason: 'not one of male, female, other' }], more: 1 },
        }),
      });

      await expect(sut.getImportTask('task/1')).resolves.toEqual({
        taskId: 'task-1',
        status: 'done',
        createdAt: '2026-11-28T10:00:00.000Z',
        updatedAt: '2026-11-28T10:00:00.000Z',
        result: { success: false, totalNum: 2, createdNum: 1, updatedNum: 0, failedNum: 1, errors: [{ index: 1, key: 'C-1', field: 'gender', reason: 'not one of male, female, other' }] },
      });
      expect(server.received[0]!.path).toBe('/cdh/v1/member/import/task%2F1');
    });

    it('drops a row error of an unexpected shape instead of refusing the whole task', async () => {
      const sut = aSut();
      server.script({ status: 200, body: aTask({ status: 'done', result: { success: false, failed_num: 2, errors: [{ index: 0, key: null, reason: 'no key' }, { row: 'x' }] } }) });

      await expect(sut.getImportTask('task-1')).resolves.toMatchObject({ result: { success: false, failedNum: 2, errors: [{ index: 0, reason: 'no key' }] } });
    });

    it('starts an export, reads it and lists exports on the configured paths', async () => {
      const sut = aSut({ paths: { export: '/v2/export', exportTask: '/v2/export/{task_id}' } });
      const done = aTask({ task_id: 'e-1', status: 'done', result: { row_count: 3, download_url: `${server.url}/files/e-1.csv?signature=abc`, expires_at: '2026-12-05T10:00:00.000Z' } });
      server.script(accepted('e-1'), { status: 200, body: done }, { status: 200, body: { exports: [done, aTask({ task_id: 'e-0', status: 'processing' })] } });

      await expect(sut.startExport(['display_name'])).resolves.toEqual({ taskId: 'e-1' });
      const expected = { taskId: 'e-1', status: 'done', createdAt: '2026-11-28T10:00:00.000Z', updatedAt: '2026-11-28T10:00:00.000Z', result: { rowCount: 3, downloadUrl: `${server.url}/files/e-1.csv?signature=abc`, expiresAt: '2026-12-05T10:00:00.000Z' } };
      await expect(sut.getExportTask('e-1')).resolves.toEqual(expected);
      await expect(sut.listExports()).resolves.toEqual([expected, { taskId: 'e-0', status: 'processing', createdAt: '2026-11-28T10:00:00.000Z', updatedAt: '2026-11-28T10:00:00.000Z' }]);

      expect(server.received.map((r) => `${r.method} ${r.path} ${r.body}`)).toEqual(['POST /v2/export {"fields":["display_name"]}', 'GET /v2/export/e-1 ', 'GET /v2/export ']);
    });

    it('streams a download without the api key, and a 410 is permanent with reason expired', async () => {
      const sut = aSut();
      server.script({ status: 200, body: 'customer_id,display_name\nC-1,Amy\n' }, { status: 410, body: { detail: 'this export file has expired' } });

      const stream = await sut.downloadExport(`${server.url}/files/e-1.csv?signature=s3cret-sig`);
      let csv = '';
      for await (const chunk of stream) csv += String(chunk);
      const expired = await rejection(sut.downloadExport(`${server.url}/files/e-1.csv?signature=s3cret-sig`));

      expect(csv).toBe('customer_id,display_name\nC-1,Amy\n');
      expect(server.received[0]!.headers.apikey).toBeUndefined();
      expect(expired).toBeInstanceOf(CaacError);
      expect(expired).toMatchObject({ code: 'permanent', reason: 'expired', status: 410, message: 'GET /files/e-1.csv -> 410: this export file has expired' });
    });

    it('follows a download\'s redirects over https or to loopback only, at most three', async () => {
      const sut = aSut();
      const redirect = (location: string) => ({ status: 302, headers: { location } });
      server.script(redirect('/files/moved.csv?signature=a'), { status: 200, body: 'contact_id\nid-1\n' });

      const stream = await sut.downloadExport(`${server.url}/files/e-1.csv?signature=a`);
      let csv = '';
      for await (const chunk of stream) csv += String(chunk);

      expect(csv).toBe('contact_id\nid-1\n');
      expect(server.received.map((r) => r.path)).toEqual(['/files/e-1.csv?signature=a', '/files/moved.csv?signature=a']);

      server.script(redirect('http://files.example.test/e-1.csv?signature=s3cret-sig'));
      const toHttp = await rejection(sut.downloadExport(`${server.url}/files/e-1.csv`));
      expect(toHttp).toMatchObject({ code: 'permanent', message: 'GET download: refused http://files.example.test: export files are fetched over https only' });
      expect(String(toHttp)).not.toContain('s3cret-sig');

      server.script(redirect('file:///etc/passwd'));
      await expect(rejection(sut.downloadExport(`${server.url}/files/e-1.csv`))).resolves.toMatchObject({ code: 'permanent', message: expect.stringMatching(/^GET download: refused file:/) });

      server.script(redirect('/files/again.csv'));
      const before = server.received.length;
      await expect(rejection(sut.downloadExport(`${server.url}/files/e-1.csv`))).resolves.toMatchObject({ code: 'permanent', message: 'GET download: more than 3 redirects' });
      expect(server.received.length - before).toBe(4);

      await expect(rejection(sut.downloadExport('http://files.example.test/e-1.csv'))).resolves.toMatchObject({ code: 'permanent', message: expect.stringMatching(/fetched over https only$/) });
    });

    it('does not follow a redirect, which would carry the api key elsewhere', async () => {
      const elsewhere = await new ScriptedServer(clock).start();
      try {
        const sut = aSut();
        server.script({ status: 307, headers: { location: `${elsewhere.url}/cdh/v1/member/import` } });

        const error = await rejection(sut.importProfiles('customer_id', rows(1)));

        expect(error).toMatchObject({ code: 'permanent', status: 307 });
        expect(elsewhere.received).toHaveLength(0);
      } finally {
        await elsewhere.close();
      }
    });
  });

  describe('error classification', () => {
    it.each([
      [401, { detail: 'Invalid or missing api key' }, 'auth'],
      [403, { detail: 'forbidden' }, 'auth'],
      [409, { detail: 'another import of this api key is pending or processing' }, 'busy'],
      [429, { detail: 'another import is running' }, 'busy'],
      [429, { detail: 'rate limit exceeded' }, 'rate_limited'],
      [400, { detail: 'bad body' }, 'permanent'],
      [404, { detail: 'Not Found' }, 'permanent'],
      [413, { detail: 'request body over 10485760 bytes' }, 'permanent'],
      [422, { detail: [{ loc: ['body', 'data', 0, 'gender'], msg: 'not one of male, female, other', type: 'value_error' }] }, 'permanent'],
      [500, { detail: 'internal error' }, 'transient'],
      [502, 'Bad Gateway', 'transient'],
      [503, { detail: 'injected 503 on import' }, 'transient'],
    ])('an import answered %i is %s', async (status, body, code) => {
      const sut = aSut();
      server.script({ status, body });

      const error = await rejection(sut.importProfiles('customer_id', rows(1)));

      expect(error).toBeInstanceOf(CaacError);
      expect(error.code).toBe(code);
      expect(error.status).toBe(status);
      expect(error.message).toMatch(new RegExp(`^POST /cdh/v1/member/import -> ${status}: `));
    });

    it('keeps Retry-After on a 429 and the server detail, truncated, on a 422', async () => {
      const sut = aSut();
      server.script({ status: 429, body: { detail: 'rate limit exceeded' }, headers: { 'retry-after': '7' } }, { status: 422, body: { detail: 'x'.repeat(2_000) } });

      const limited = await rejection(sut.importProfiles('customer_id', rows(1)));
      const invalid = await rejection(drive(clock, sut.importProfiles('customer_id', rows(1))));

      expect(limited).toMatchObject({ code: 'rate_limited', retryAfterMs: 7_000 });
      expect(invalid.code).toBe('permanent');
      expect((invalid.detail as string).length).toBe(500);
    });

    it('a timeout of a task read is transient; of an import POST, outcome_unknown', async () => {
      const sut = aSut({ requestTimeoutMs: 100 });
      server.script('hang');

      const read = await rejection(sut.getImportTask('t-1'));
      const post = await rejection(sut.importProfiles('customer_id', rows(1)));

      expect(read).toMatchObject({ code: 'transient', message: 'GET /cdh/v1/member/import/t-1: no answer within 100 ms' });
      expect(post).toMatchObject({ code: 'outcome_unknown', message: 'POST /cdh/v1/member/import: no answer within 100 ms' });
    });

    it('lets an import already sent finish when the caller stops (shutdown), so its task is known, not sent again', async () => {
      const sut = aSut();
      let answer!: () => void;
      server.answer = () => new Promise((resolve) => (answer = () => resolve(accepted('t-late'))));
      const stop = new AbortController();

      const post = sut.importProfiles('customer_id', rows(1), stop.signal);
      await until(() => server.received.length === 1);
      stop.abort(new Error('shutting down'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer();

      await expect(post).resolves.toEqual({ taskId: 't-late' });
      expect(server.received).toHaveLength(1);
    });

    it('still stops a task read at once when the caller stops', async () => {
      const sut = aSut();
      server.script('hang');
      const stop = new AbortController();

      const read = sut.getImportTask('t-1', stop.signal);
      await until(() => server.received.length === 1);
      stop.abort(new Error('shutting down'));

      await expect(read).rejects.toThrow('shutting down');
    });

    it('a dropped connection after an import was sent is outcome_unknown and is not retried', async () => {
      const sut = aSut({ retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 100 } });
      server.script('destroy');

      const error = await rejection(sut.importProfiles('customer_id', rows(1)));

      expect(error.code).toBe('outcome_unknown');
      expect(server.received).toHaveLength(1);
    });

    it('a refused connection is transient, even for an import', async () => {
      const url = server.url;
      await server.close();
      server = await new ScriptedServer(clock).start();
      const sut = aClient(clock, clientOptions(url));
      clients.push(sut);

      const error = await rejection(sut.importProfiles('customer_id', rows(1)));

      expect(error).toMatchObject({ code: 'transient', message: 'POST /cdh/v1/member/import: connection failed (ECONNREFUSED)' });
    });

    it('an accepted import without a task id is outcome_unknown; a task read of the wrong shape is permanent; not JSON is transient', async () => {
      const sut = aSut();
      server.script({ status: 202, body: { id: 'x' } }, { status: 200, body: { task_id: 't-1', status: 'queued' } }, { status: 200, body: '<html>proxy</html>' });

      const post = await rejection(sut.importProfiles('customer_id', rows(1)));
      const shape = await rejection(sut.getImportTask('t-1'));
      const html = await rejection(sut.getImportTask('t-1'));

      expect(post).toMatchObject({ code: 'outcome_unknown', reason: 'malformed_response', message: 'POST /cdh/v1/member/import -> 202: unexpected answer (task_id: Invalid input: expected string, received undefined)' });
      expect(shape).toMatchObject({ code: 'permanent', reason: 'malformed_response' });
      expect(shape.message).toMatch(/^GET \/cdh\/v1\/member\/import\/t-1 -> 200: unexpected answer \(status: /);
      expect(html).toMatchObject({ code: 'transient', reason: 'malformed_response', message: 'GET /cdh/v1/member/import/t-1 -> 200: unexpected answer (not JSON)' });
    });
  });

  describe('limits', () => {
    it('refuses more rows than maxRows, or none, without a request', async () => {
      const sut = aSut({ maxRows: 3 });

      const over = await rejection(sut.importProfiles('customer_id', rows(4)));
      const none = await rejection(sut.importProfiles('customer_id', []));

      expect(over).toMatchObject({ code: 'permanent', reason: 'refused_locally', message: 'POST /cdh/v1/member/import: refused before sending, an import takes 1 to 3 rows, not 4' });
      expect(none).toMatchObject({ code: 'permanent', reason: 'refused_locally' });
      expect(server.received).toHaveLength(0);
    });

    it('defaults maxRows to the API limit of 10,000 and refuses a larger setting', () => {
      expect(aSut().maxRows).toBe(10_000);
      expect(() => aSut({ maxRows: 10_001 })).toThrow('maxRows must be an integer from 1 to 10000');
    });

    it('paces imports one interval apart: window / requests plus 1 % and 50 ms', async () => {
      const sut = aSut();
      server.script(accepted());

      for (let i = 0; i < 3; i++) await drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 100 });

      expect(sut.importIntervalMs).toBe(4_090);
      expect(importIntervalMs(15, 3_000)).toBe(252);
      const gaps = sentAt.slice(1).map((at, i) => at - sentAt[i]!);
      expect(gaps).toEqual([4_090, 4_090]);
    });

    it('records every import attempt before sending it, retries and 429s included', async () => {
      const sut = aSut({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 } });
      const events: string[] = [];
      sut.recordImportRequestsWith({ record: async () => void events.push(`recorded ${events.length}`) });
      server.answer = async () => {
        events.push(`sent ${events.length}`);
        return server.received.length === 1 ? { status: 409, body: { detail: 'an import is running' } } : accepted('t-2');
      };

      await expect(drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 100 })).resolves.toEqual({ taskId: 't-2' });

      expect(events).toEqual(['recorded 0', 'sent 1', 'recorded 2', 'sent 3']);
    });

    it('sends nothing when the record of the request fails', async () => {
      const sut = aSut();
      sut.recordImportRequestsWith({ record: () => Promise.reject(new Error('database unavailable')) });
      server.script(accepted());

      await expect(sut.importProfiles('customer_id', rows(1))).rejects.toThrow('database unavailable');
      expect(server.received).toHaveLength(0);
    });

    it('after fail-over, holds imports back by the requests the previous leader sent in the window', async () => {
      const sut = aSut();
      server.script(accepted());
      const seededAt = clock.now();
      // 15 requests one interval apart, the last 1,000 ms ago: the window is full.
      sut.seedImportRequests(Array.from({ length: 15 }, (_, i) => 1_000 + i * 4_090));

      expect(sut.importWaitMs()).toBe(3_090);
      await drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 10 });

      expect(sentAt.map((at) => at - seededAt)).toEqual([3_090]);
      expect(sut.importWindowMs).toBe(61_350);
    });

    it('sends one import at a time, in the order they were asked for', async () => {
      const sut = aSut({ importRate: { requests: 1_000, windowMs: 1_000 } });
      let inFlight = 0;
      let maxInFlight = 0;
      server.answer = async (request) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
        return accepted(String(JSON.parse(request.body).data[0].customer_id));
      };

      const all = Promise.all([0, 1, 2, 3].map((i) => sut.importProfiles('customer_id', rows(1, i))));
      const results = await drive(clock, all);

      expect(results).toEqual([{ taskId: 'C-0' }, { taskId: 'C-1' }, { taskId: 'C-2' }, { taskId: 'C-3' }]);
      expect(maxInFlight).toBe(1);
    });

    it('a 429 with Retry-After holds every import back until then', async () => {
      const sut = aSut({ retry: { maxAttempts: 1, baseDelayMs: 100, maxDelayMs: 1_000 } });
      server.script({ status: 429, body: { detail: 'rate limit exceeded' }, headers: { 'retry-after': '20' } }, accepted());

      await rejection(sut.importProfiles('customer_id', rows(1)));
      const throttledAt = clock.now();
      expect(sut.importWaitMs()).toBe(20_000);
      await drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 100 });

      expect(sentAt[1]! - throttledAt).toBe(20_000);
    });

    it('a 429 without Retry-After pauses imports for one interval, doubling while 429s continue, at most a window', async () => {
      const sut = aSut();
      const pauses: number[] = [];
      sut.on('throttled', ({ untilMs }) => pauses.push(untilMs - clock.now()));
      server.script({ status: 429, body: { detail: 'rate limit exceeded' } });

      for (let i = 0; i < 6; i++) await rejection(drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 500, maxSteps: 1_000 }));

      expect(pauses).toEqual([4_090, 8_180, 16_360, 32_720, 60_000, 60_000]);
    });
  });

  describe('retries', () => {
    it('computes full-jitter exponential delays capped at maxDelayMs, never under Retry-After', () => {
      const retry = { baseDelayMs: 100, maxDelayMs: 1_000 };
      expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, retry, 0.999))).toEqual([99.9, 199.8, 399.6, 799.2, 999, 999]);
      expect(retryDelayMs(3, retry, 0)).toBe(0);
      expect(retryDelayMs(1, retry, 0.5, 5_000)).toBe(5_000);
    });

    it('retries a transient failure with growing waits until it succeeds', async () => {
      const sut = aSut({ retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 } });
      server.script({ status: 503, body: { detail: 'down' } }, { status: 502 }, { status: 200, body: aTask() });

      await expect(drive(clock, sut.getImportTask('task-1'))).resolves.toMatchObject({ taskId: 'task-1', status: 'pending' });

      expect(server.received).toHaveLength(3);
      expect(clock.recorded).toEqual([50, 100]); // random 0.5 of 100 and 200
    });

    it('gives up after maxAttempts with the last error', async () => {
      const sut = aSut({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 } });
      server.script({ status: 500, body: { detail: 'still down' } });

      const error = await rejection(drive(clock, sut.getImportTask('task-1')));

      expect(error).toMatchObject({ code: 'transient', status: 500 });
      expect(server.received).toHaveLength(3);
    });

    it('retries busy imports, each attempt after its own token', async () => {
      const sut = aSut({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 } });
      server.script({ status: 409, body: { detail: 'another import is pending or processing' } }, { status: 409 }, accepted('t-9'));

      await expect(drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 100 })).resolves.toEqual({ taskId: 't-9' });

      expect(server.received).toHaveLength(3);
      expect(sentAt.slice(1).map((at, i) => at - sentAt[i]!)).toEqual([4_090, 4_090]);
    });

    it.each([
      [400, 'permanent'],
      [401, 'auth'],
    ])('never retries a %i (%s)', async (status, code) => {
      const sut = aSut({ retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 100 } });
      server.script({ status, body: { detail: 'no' } });

      const error = await rejection(sut.getImportTask('task-1'));

      expect(error.code).toBe(code);
      expect(server.received).toHaveLength(1);
    });

    it('does not sleep through a Retry-After longer than maxDelayMs: the caller decides', async () => {
      const sut = aSut({ retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 } });
      server.script({ status: 503, headers: { 'retry-after': '120' } });

      const error = await rejection(sut.getImportTask('task-1'));

      expect(error).toMatchObject({ code: 'transient', retryAfterMs: 120_000 });
      expect(server.received).toHaveLength(1);
    });
  });

  describe('circuit breaker', () => {
    const breaker = { errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeoutMs: 150, rollingCountTimeoutMs: 10_000 };

    it('opens on repeated 5xx, fails fast while open, half-opens after the reset time and closes on success', async () => {
      const sut = aSut({ breaker });
      const states: BreakerState[] = [];
      sut.on('breaker', (state) => states.push(state));
      server.script({ status: 503 }, { status: 503 }, { status: 200, body: aTask() });

      await rejection(sut.getImportTask('task-1'));
      await rejection(sut.getImportTask('task-1'));
      const fast = await rejection(sut.getImportTask('task-1'));
      expect(sut.breakerState()).toBe('open');
      expect(fast).toMatchObject({ code: 'circuit_open', message: 'GET /cdh/v1/member/import/task-1: not sent, the circuit is open after repeated failures' });
      expect(server.received).toHaveLength(2);

      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(sut.breakerState()).toBe('half_open');
      await expect(sut.getImportTask('task-1')).resolves.toMatchObject({ taskId: 'task-1' });

      expect(sut.breakerState()).toBe('closed');
      expect(states).toEqual(['open', 'half_open', 'closed']);
    });

    it('an import while open fails fast without spending a token', async () => {
      const sut = aSut({ breaker });
      server.script({ status: 503 });
      await rejection(sut.getImportTask('task-1'));
      await rejection(sut.getImportTask('task-1'));

      const error = await rejection(sut.importProfiles('customer_id', rows(1)));

      expect(error.code).toBe('circuit_open');
      expect(sut.importWaitMs()).toBe(0);
    });

    it('is not opened by CAAC refusing requests (4xx, 409, 429)', async () => {
      const sut = aSut({ breaker });
      server.script({ status: 422, body: { detail: 'bad' } }, { status: 409 }, { status: 429 }, { status: 404 });

      for (let i = 0; i < 4; i++) await rejection(drive(clock, sut.getImportTask('task-1')));

      expect(sut.breakerState()).toBe('closed');
    });
  });

  describe('secrets', () => {
    it('never puts the api key in an error (not even when the server echoes it), its JSON, its stack, or a log line', async () => {
      const { logger, lines } = memoryLogger();
      const sut = aSut({ requestTimeoutMs: 100, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 }, breaker: { errorThresholdPercentage: 50, volumeThreshold: 6, resetTimeoutMs: 60_000, rollingCountTimeoutMs: 60_000 } }, logger);
      const echo = (request: { headers: Record<string, unknown> }) => ({ detail: `you sent ${JSON.stringify(request.headers)}` });
      const answers = [401, 403, 409, 422, 429, 500].map((status) => (request: { headers: Record<string, unknown> }) => ({ status, body: echo(request), headers: { 'retry-after': '0' } }));
      const errors: unknown[] = [];
      for (const answer of answers) {
        server.answer = answer;
        errors.push(await rejection(drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 1_000 })));
        errors.push(await rejection(drive(clock, sut.getImportTask('t'))));
      }
      server.script('hang');
      errors.push(await rejection(drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 1_000 })));
      server.script('destroy');
      errors.push(await rejection(drive(clock, sut.importProfiles('customer_id', rows(1)), { stepMs: 1_000 })));
      errors.push(await rejection(drive(clock, sut.listExports())));
      expect(() => aSut({ apiKey: `${TEST_API_KEY} with space` })).toThrow('Invalid CAAC client options: apiKey must be non-empty visible ASCII');
      errors.push(rejection(Promise.reject(catchSync(() => aSut({ apiKey: `${TEST_API_KEY}\n` })))));

      expect(errors).toHaveLength(16);
      for (const error of await Promise.all(errors)) {
        const seen = [String(error), JSON.stringify(error), inspect(error, { depth: 5 }), (error as Error).stack ?? ''].join('\n');
        expect(seen).not.toContain(TEST_API_KEY);
      }
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).not.toContain(TEST_API_KEY);
    });
  });
});

function catchSync(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return new Error('did not throw');
}
