/** The sandbox's settings, from SANDBOX_* environment variables (DESIGN §4.3). */
export interface SandboxConfig {
  host: string;
  port: number;
  apiKeys: string[];
  ratePerWindow: number;
  rateWindowMs: number;
  retryAfter: boolean;
  maxRows: number;
  maxBodyBytes: number;
  maxCustomFields: number;
  exportTtlMs: number;
  taskMinMs: number;
  taskMsPerRow: number;
  taskPendingMs: number;
  testApi: boolean;
  seed: number | undefined;
  publicUrl: string | undefined;
}

const DEFAULTS: SandboxConfig = {
  host: '127.0.0.1',
  port: 4010,
  apiKeys: ['sandbox-key'],
  ratePerWindow: 15,
  rateWindowMs: 60_000,
  retryAfter: true,
  maxRows: 10_000,
  maxBodyBytes: 10 * 1024 * 1024,
  maxCustomFields: 200,
  exportTtlMs: 7 * 24 * 60 * 60 * 1000,
  taskMinMs: 1_000,
  taskMsPerRow: 0.1,
  taskPendingMs: 100,
  testApi: false,
  seed: undefined,
  publicUrl: undefined,
};

/** Reads the environment; throws one Error listing every bad variable. */
export function loadSandboxConfig(env: NodeJS.ProcessEnv): SandboxConfig {
  const problems: string[] = [];
  const config: SandboxConfig = { ...DEFAULTS };
  const num = (name: string, min: number, integer = true): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      problems.push(`${name}: must be a ${integer ? 'whole ' : ''}number of at least ${min}`);
      return undefined;
    }
    return value;
  };
  const bool = (name: string): boolean | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    if (['1', 'true', 'yes'].includes(raw)) return true;
    if (['0', 'false', 'no'].includes(raw)) return false;
    problems.push(`${name}: must be true or false`);
    return undefined;
  };
  if (env.SANDBOX_HOST) config.host = env.SANDBOX_HOST;
  config.port = num('SANDBOX_PORT', 0) ?? config.port;
  if (config.port > 65_535) problems.push('SANDBOX_PORT: must be at most 65535');
  if (env.SANDBOX_API_KEYS !== undefined) {
    config.apiKeys = env.SANDBOX_API_KEYS.split(',').map((key) => key.trim()).filter(Boolean);
    if (config.apiKeys.length === 0) problems.push('SANDBOX_API_KEYS: needs at least one key');
  }
  config.ratePerWindow = num('SANDBOX_RATE_PER_WINDOW', 1) ?? config.ratePerWindow;
  config.rateWindowMs = num('SANDBOX_RATE_WINDOW_MS', 1) ?? config.rateWindowMs;
  config.retryAfter = bool('SANDBOX_RETRY_AFTER') ?? config.retryAfter;
  config.maxRows = num('SANDBOX_MAX_ROWS', 1) ?? config.maxRows;
  config.maxBodyBytes = num('SANDBOX_MAX_BODY_BYTES', 1) ?? config.maxBodyBytes;
  config.maxCustomFields = num('SANDBOX_MAX_CUSTOM_FIELDS', 0) ?? config.maxCustomFields;
  config.exportTtlMs = num('SANDBOX_EXPORT_TTL_MS', 0) ?? config.exportTtlMs;
  config.taskMinMs = num('SANDBOX_TASK_MIN_MS', 0) ?? config.taskMinMs;
  config.taskMsPerRow = num('SANDBOX_TASK_MS_PER_ROW', 0, false) ?? config.taskMsPerRow;
  config.taskPendingMs = num('SANDBOX_TASK_PENDING_MS', 0) ?? config.taskPendingMs;
  config.testApi = bool('SANDBOX_TEST_API') ?? config.testApi;
  config.seed = num('SANDBOX_SEED', 0) ?? config.seed;
  if (env.SANDBOX_PUBLIC_URL) config.publicUrl = env.SANDBOX_PUBLIC_URL.replace(/\/+$/, '');
  if (problems.length > 0) throw new Error(`Invalid sandbox configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return config;
}
