import { SANDBOX_DEFAULTS, loadSandboxConfig } from '../../src/sandbox/sandbox.config';

describe(loadSandboxConfig.name, () => {
  it('defaults every setting', () => {
    expect(loadSandboxConfig({})).toEqual({
      host: '127.0.0.1',
      port: 4010,
      apiKeys: ['sandbox-key'],
      ratePerWindow: 15,
      rateWindowMs: 60_000,
      retryAfter: true,
      maxRows: 10_000,
      maxBodyBytes: 10_485_760,
      maxCustomFields: 200,
      exportTtlMs: 604_800_000,
      exportLagMs: 0,
      taskMinMs: 1_000,
      taskMsPerRow: 0.1,
      taskPendingMs: 100,
      testApi: false,
      seed: undefined,
      publicUrl: undefined,
      logLevel: 'info',
    });
  });

  it('reads every variable', () => {
    const sut = loadSandboxConfig({
      SANDBOX_HOST: '0.0.0.0',
      SANDBOX_PORT: '0',
      SANDBOX_API_KEYS: ' a, b ,',
      SANDBOX_RATE_PER_WINDOW: '3',
      SANDBOX_RATE_WINDOW_MS: '1000',
      SANDBOX_RETRY_AFTER: 'false',
      SANDBOX_MAX_ROWS: '50',
      SANDBOX_MAX_BODY_BYTES: '2048',
      SANDBOX_MAX_CUSTOM_FIELDS: '5',
      SANDBOX_EXPORT_TTL_MS: '100',
      SANDBOX_EXPORT_LAG_MS: '86400000',
      SANDBOX_TASK_MIN_MS: '10',
      SANDBOX_TASK_MS_PER_ROW: '0.5',
      SANDBOX_TASK_PENDING_MS: '5',
      SANDBOX_TEST_API: '1',
      SANDBOX_SEED: '42',
      SANDBOX_PUBLIC_URL: 'https://sandbox.example.test/',
      SANDBOX_LOG_LEVEL: 'debug',
    });

    expect(sut).toEqual({
      host: '0.0.0.0',
      port: 0,
      apiKeys: ['a', 'b'],
      ratePerWindow: 3,
      rateWindowMs: 1_000,
      retryAfter: false,
      maxRows: 50,
      maxBodyBytes: 2_048,
      maxCustomFields: 5,
      exportTtlMs: 100,
      exportLagMs: 86_400_000,
      taskMinMs: 10,
      taskMsPerRow: 0.5,
      taskPendingMs: 5,
      testApi: true,
      seed: 42,
      publicUrl: 'https://sandbox.example.test',
      logLevel: 'debug',
    });
  });

  it('throws one error naming every bad variable, one a line', () => {
    const load = () =>
      loadSandboxConfig({
        SANDBOX_PORT: '70000',
        SANDBOX_API_KEYS: ' , ',
        SANDBOX_RATE_PER_WINDOW: '0',
        SANDBOX_RETRY_AFTER: 'maybe',
        SANDBOX_TASK_MS_PER_ROW: '-1',
        SANDBOX_TEST_API: 'yes please',
        SANDBOX_PUBLIC_URL: 'ftp://x',
      });

    expect(load).toThrow(
      [
        'Invalid sandbox configuration:',
        '  SANDBOX_PORT: must be an integer from 0 to 65535, got "70000"',
        '  SANDBOX_API_KEYS: needs at least one key (comma separated)',
        '  SANDBOX_RATE_PER_WINDOW: must be an integer at least 1, got "0"',
        '  SANDBOX_RETRY_AFTER: must be true, false, 1 or 0, got "maybe"',
        '  SANDBOX_TASK_MS_PER_ROW: must be a number at least 0, got "-1"',
        '  SANDBOX_TEST_API: must be true, false, 1 or 0, got "yes please"',
        '  SANDBOX_PUBLIC_URL: must be an http(s) URL, got "ftp://x"',
      ].join('\n'),
    );
  });

  it('does not share the default key list between calls', () => {
    loadSandboxConfig({}).apiKeys.push('leak');

    expect(SANDBOX_DEFAULTS.apiKeys).toEqual(['sandbox-key']);
  });
});
