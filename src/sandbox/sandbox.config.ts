/** The sandbox's settings, from SANDBOX_* environment variables (DESIGN §4.3). */
export interface SandboxConfig {
  host: string;
  /** 0 takes any free port. */
  port: number;
  apiKeys: string[];
  ratePerWindow: number;
  rateWindowMs: number;
  /** Whether a 429 carries `Retry-After` (seconds); the real API may or may not send it. */
  retryAfter: boolean;
  maxRows: number;
  maxBodyBytes: number;
  maxCustomFields: number;
  exportTtlMs: number;
  /** An export shows the contacts as they were this long before it was requested (the API's staleness). */
  exportLagMs: number;
  taskMinMs: number;
  taskMsPerRow: number;
  taskPendingMs: number;
  testApi: boolean;
  /** Seed of the fault randomness; undefined draws one at start. */
  seed: number | undefined;
  /** Base of download URLs; undefined derives it from the bound host and port. */
  publicUrl: string | undefined;
  logLevel: LogLevel;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SANDBOX_DEFAULTS: Readonly<SandboxConfig> = {
  host: '127.0.0.1', // local only unless asked: the sandbox has no real authentication
  port: 4010,
  apiKeys: ['sandbox-key'],
  ratePerWindow: 15, // Profile API: 15 import requests a minute per api key
  rateWindowMs: 60_000,
  retryAfter: true,
  maxRows: 10_000, // Profile API: rows per import
  maxBodyBytes: 10 * 1024 * 1024, // Profile API: 10 MB a request
  maxCustomFields: 200, // Profile API: custom fields a contact may hold
  exportTtlMs: 7 * 24 * 60 * 60 * 1000, // download links live a week
  exportLagMs: 0, // the real API's data may be up to 24 h old; 0 keeps tests exact
  taskMinMs: 1_000, // a real backend takes at least a second per task
  taskMsPerRow: 0.1,
  taskPendingMs: 100,
  testApi: false,
  seed: undefined,
  publicUrl: undefined,
  logLevel: 'info',
};

/** Reads the environment, defaulting what is absent; throws one Error listing every bad variable. */
export function loadSandboxConfig(env: NodeJS.ProcessEnv): SandboxConfig {
  const problems: string[] = [];
  const config: SandboxConfig = { ...SANDBOX_DEFAULTS, apiKeys: [...SANDBOX_DEFAULTS.apiKeys] };
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const number = (name: string, fallback: number, { min, max, integer }: { min: number; max?: number; integer: boolean }): number => {
    const text = raw(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || (max !== undefined && value > max) || (integer && !Number.isInteger(value))) {
      const range = max === undefined ? `at least ${min}` : `from ${min} to ${max}`;
      problems.push(`${name}: must be ${integer ? 'an integer' : 'a number'} ${range}, got "${text}"`);
      return fallback;
    }
    return value;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const text = raw(name);
    if (text === undefined) return fallback;
    if (text === '1' || text === 'true') return true;
    if (text === '0' || text === 'false') return false;
    problems.push(`${name}: must be true, false, 1 or 0, got "${text}"`);
    return fallback;
  };

  config.host = raw('SANDBOX_HOST') ?? config.host;
  config.port = number('SANDBOX_PORT', config.port, { min: 0, max: 65_535, integer: true });
  const keys = env.SANDBOX_API_KEYS;
  if (keys !== undefined) {
    config.apiKeys = keys.split(',').map((key) => key.trim()).filter((key) => key !== '');
    if (config.apiKeys.length === 0) problems.push('SANDBOX_API_KEYS: needs at least one key (comma separated)');
    if (new Set(config.apiKeys).size !== config.apiKeys.length) problems.push('SANDBOX_API_KEYS: lists a key twice');
  }
  config.ratePerWindow = number('SANDBOX_RATE_PER_WINDOW', config.ratePerWindow, { min: 1, integer: true });
  config.rateWindowMs = number('SANDBOX_RATE_WINDOW_MS', config.rateWindowMs, { min: 1, integer: true });
  config.retryAfter = flag('SANDBOX_RETRY_AFTER', config.retryAfter);
  config.maxRows = number('SANDBOX_MAX_ROWS', config.maxRows, { min: 1, integer: true });
  config.maxBodyBytes = number('SANDBOX_MAX_BODY_BYTES', config.maxBodyBytes, { min: 1, integer: true });
  config.maxCustomFields = number('SANDBOX_MAX_CUSTOM_FIELDS', config.maxCustomFields, { min: 0, integer: true });
  config.exportTtlMs = number('SANDBOX_EXPORT_TTL_MS', config.exportTtlMs, { min: 0, integer: true });
  config.exportLagMs = number('SANDBOX_EXPORT_LAG_MS', config.exportLagMs, { min: 0, integer: true });
  config.taskMinMs = number('SANDBOX_TASK_MIN_MS', config.taskMinMs, { min: 0, integer: true });
  config.taskMsPerRow = number('SANDBOX_TASK_MS_PER_ROW', config.taskMsPerRow, { min: 0, integer: false });
  config.taskPendingMs = number('SANDBOX_TASK_PENDING_MS', config.taskPendingMs, { min: 0, integer: true });
  config.testApi = flag('SANDBOX_TEST_API', config.testApi);
  const seed = raw('SANDBOX_SEED');
  if (seed !== undefined) config.seed = number('SANDBOX_SEED', 0, { min: 0, max: 2 ** 32 - 1, integer: true });
  const publicUrl = raw('SANDBOX_PUBLIC_URL');
  if (publicUrl !== undefined) {
    if (/^https?:\/\/[^/\s]+/.test(publicUrl) && URL.canParse(publicUrl)) config.publicUrl = publicUrl.replace(/\/+$/, '');
    else problems.push(`SANDBOX_PUBLIC_URL: must be an http(s) URL, got "${publicUrl}"`);
  }
  const logLevel = raw('SANDBOX_LOG_LEVEL');
  if (logLevel !== undefined) {
    if ((LOG_LEVELS as readonly string[]).includes(logLevel)) config.logLevel = logLevel as LogLevel;
    else problems.push(`SANDBOX_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  if (problems.length > 0) throw new Error(`Invalid sandbox configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  return config;
}
