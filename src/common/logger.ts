import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths whose values are never written to a log line: the CAAC api key travels in the `apikey`
 * header and the admin token in `authorization`; both are also redacted wherever they are nested.
 */
const REDACTED_PATHS = [
  'apikey',
  'apiKey',
  'authorization',
  'password',
  '*.apikey',
  '*.apiKey',
  '*.authorization',
  '*.password',
  'headers.apikey',
  'headers.authorization',
  'req.headers.apikey',
  'req.headers.authorization',
  'config.caac.apiKey',
  'config.adminToken',
];

/** The one logger of the process: JSON lines on stdout, secrets redacted. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'caac-sync',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
