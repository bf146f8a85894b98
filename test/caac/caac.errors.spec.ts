import { CaacError, classifyResponse, countsAgainstBreaker, describeDetail, parseRetryAfter } from '../../src/caac/caac.errors';

const IMPORT = '/cdh/v1/member/import';
const NOW = Date.parse('2026-11-28T10:00:00.000Z');

describe(classifyResponse.name, () => {
  function classified(status: number, body: unknown = undefined, retryAfterMs?: number) {
    const sut = classifyResponse('POST', IMPORT, status, body, retryAfterMs);
    return { code: sut.code, status: sut.status, retryAfterMs: sut.retryAfterMs, reason: sut.reason, retryable: sut.retryable };
  }

  it.each([
    [401, 'auth', false],
    [403, 'auth', false],
    [404, 'permanent', false],
    [409, 'busy', true],
    [422, 'permanent', false],
    [408, 'transient', true],
    [500, 'transient', true],
    [502, 'transient', true],
    [503, 'transient', true],
  ] as const)('maps %i to %s', (status, code, retryable) => {
    expect(classified(status)).toEqual({ code, status, retryAfterMs: undefined, reason: undefined, retryable });
  });

  it('maps 413 to permanent with reason too_large, so an importer can split the request', () => {
    expect(classified(413)).toEqual({ code: 'permanent', status: 413, retryAfterMs: undefined, reason: 'too_large', retryable: false });
  });

  it('maps 429 to rate_limited, keeping Retry-After', () => {
    expect(classified(429, { detail: 'rate limit exceeded: at most 15 import requests per 60000 ms' }, 42_000)).toEqual({
      code: 'rate_limited',
      status: 429,
      retryAfterMs: 42_000,
      reason: undefined,
      retryable: true,
    });
    expect(classified(429)).toEqual({ code: 'rate_limited', status: 429, retryAfterMs: undefined, reason: undefined, retryable: true });
  });

  it.each(['another import of this api key is pending or processing', 'Import task is running', 'an import is in progress'])(
    'maps 429 whose detail says an import runs ("%s") to busy',
    (detail) => {
      expect(classified(429, { detail }, 1_000)).toEqual({ code: 'busy', status: 429, retryAfterMs: 1_000, reason: undefined, retryable: true });
    },
  );

  it('keeps Retry-After on 409 and 503, never on permanent errors', () => {
    expect(classified(409, undefined, 2_000).retryAfterMs).toBe(2_000);
    expect(classified(503, undefined, 3_000).retryAfterMs).toBe(3_000);
    expect(classified(422, undefined, 4_000).retryAfterMs).toBeUndefined();
  });

  it('maps 410 to permanent with the reason expired', () => {
    const sut = classifyResponse('GET', '/files/exports/x.csv', 410, { detail: 'this export file has expired' });

    expect(sut.toJSON()).toEqual({
      name: 'CaacError',
      code: 'permanent',
      message: 'GET /files/exports/x.csv -> 410: this export file has expired',
      method: 'GET',
      path: '/files/exports/x.csv',
      status: 410,
      detail: 'this export file has expired',
      retryAfterMs: undefined,
      reason: 'expired',
    });
  });

  it('says the method, path, status and the server detail in its message', () => {
    const detail = [{ loc: ['body', 'data'], msg: 'at most 10000 rows per import, got 10001', type: 'value_error' }];

    const sut = classifyResponse('POST', IMPORT, 422, { detail }, undefined);

    expect(sut).toBeInstanceOf(CaacError);
    expect(sut.name).toBe('CaacError');
    expect(sut.message).toBe(`POST ${IMPORT} -> 422: ${JSON.stringify(detail)}`);
    expect(classifyResponse('GET', IMPORT, 502, '<html>Bad Gateway</html>', undefined).message).toBe(`GET ${IMPORT} -> 502: <html>Bad Gateway</html>`);
    expect(classifyResponse('GET', IMPORT, 500, undefined, undefined).message).toBe(`GET ${IMPORT} -> 500`);
  });
});

describe(countsAgainstBreaker.name, () => {
  it('counts only failures of CAAC or the way to it', () => {
    const codes = ['busy', 'rate_limited', 'transient', 'permanent', 'auth', 'outcome_unknown', 'circuit_open'] as const;

    const counted = codes.filter((code) => countsAgainstBreaker(new CaacError(code, 'x')));

    expect(counted).toEqual(['transient', 'outcome_unknown']);
    expect(countsAgainstBreaker(new Error('x'))).toBe(false);
  });
});

describe(describeDetail.name, () => {
  it('reads a FastAPI list of issues as JSON on one line', () => {
    expect(describeDetail({ detail: [{ loc: ['body'], msg: 'bad' }] })).toBe('[{"loc":["body"],"msg":"bad"}]');
    expect(describeDetail('Bad\n  Gateway')).toBe('Bad Gateway');
  });

  it("keeps a FastAPI issue's location, message and type, never the input it refused", () => {
    const body = {
      detail: [
        { type: 'value_error', loc: ['body', 'data', 3, 'display_email'], msg: 'value is not a valid email address', input: 'amy@@example.com', ctx: { reason: 'amy@@example.com' }, url: 'https://errors.pydantic.dev/2/v/value_error' },
        { type: 'missing', loc: ['body', 'import_key'], msg: 'Field required', input: { data: [{ display_mobile: '+886912345678' }] } },
      ],
    };

    const sut = describeDetail(body);

    expect(sut).toBe(
      '[{"loc":["body","data",3,"display_email"],"msg":"value is not a valid email address","type":"value_error"},{"loc":["body","import_key"],"msg":"Field required","type":"missing"}]',
    );
    expect(classifyResponse('POST', IMPORT, 422, body).message).toBe(`POST ${IMPORT} -> 422: ${sut}`);
  });

  it('drops an input wherever else a detail object carries it', () => {
    expect(describeDetail({ detail: { error: 'refused', input: 'amy@example.com', rows: [{ input: '+886912345678', index: 2 }] } })).toBe('{"error":"refused","rows":[{"index":2}]}');
  });

  it('cuts a long detail to 500 characters', () => {
    const detail = describeDetail({ detail: 'x'.repeat(600) });

    expect(detail).toBe(`${'x'.repeat(499)}…`);
  });

  it('is empty for no body', () => {
    expect([describeDetail(undefined), describeDetail(null), describeDetail('')]).toEqual(['', '', '']);
  });
});

describe(parseRetryAfter.name, () => {
  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 7 ', 7_000],
    ['1.5', 1_500],
  ])('reads delay-seconds %j as %i ms', (header, ms) => {
    expect(parseRetryAfter(header, NOW)).toBe(ms);
  });

  it('reads an HTTP date as the time from now until then', () => {
    expect(parseRetryAfter('Sat, 28 Nov 2026 10:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Saturday, 28-Nov-26 10:01:00 GMT', NOW)).toBe(60_000);
  });

  it('reads an HTTP date in the past as 0', () => {
    expect(parseRetryAfter('Sat, 28 Nov 2026 09:59:00 GMT', NOW)).toBe(0);
  });

  it.each([null, undefined, '', '   ', 'soon', '-1', '+5', '2 minutes', 'Sat, 99 Nov 2026 25:00:00 GMT'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, NOW)).toBeUndefined();
  });
});
