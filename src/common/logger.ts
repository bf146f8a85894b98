import pino, { type DestinationStream, type Logger } from 'pino';
import { sqlState } from './failure-kind';

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
  'config.auditHashKey',
  'sasl.password',
  '*.sasl.password',
  'config.kafka.security.sasl.password',
  'config.kafka.security.ssl.key',
];

/**
 * Fields of an error never written to a log line: TypeORM's `query` and `parameters` (a staging
 * statement's parameters hold up to 10,000 contacts' e-mail addresses and phone numbers), its copy
 * of the driver's error, and Postgres's `detail`, `where` and `internalQuery`, which quote values.
 * What says what went wrong stays: the SQLSTATE (`code`), and the constraint, table, column, schema,
 * data type and routine names.
 */
const UNSAFE_ERROR_FIELDS = new Set(['query', 'parameters', 'driverError', 'detail', 'where', 'internalQuery']);

/** Causes followed this deep; errors are not that nested, and a cycle must not hang the logger. */
const ERROR_MAX_DEPTH = 4;

/**
 * Serializes an error for a log line without personal data (see UNSAFE_ERROR_FIELDS). A Postgres
 * error's message quotes the refused value (`invalid input syntax for type integer: "..."`), so
 * its quoted parts are masked, in the message and in the stack.
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return value;
  const fromDatabase = sqlState(value) !== undefined;
  const message = fromDatabase ? maskQuoted(value.message) : value.message;
  const out: Record<string, unknown> = {
    type: value.constructor?.name ?? value.name,
    message,
    stack: fromDatabase && value.stack ? value.stack.split(value.message).join(message) : value.stack,
  };
  for (const key of Object.keys(value)) {
    if (UNSAFE_ERROR_FIELDS.has(key) || key in out) continue;
    const field = (value as unknown as Record<string, unknown>)[key];
    out[key] = field instanceof Error ? (depth < ERROR_MAX_DEPTH ? serializeError(field, depth + 1) : field.name) : field;
  }
  if (value.cause !== undefined && !('cause' in out)) {
    out.cause = depth < ERROR_MAX_DEPTH ? serializeError(value.cause, depth + 1) : undefined;
  }
  return out;
}

function maskQuoted(text: string): string {
  return text.replace(/"[^"]*"/g, '"…"');
}

/**
 * The one logger of the process: JSON lines on stdout (or `destination`), secrets redacted, errors
 * written without personal data.
 */
export function createLogger(options: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'caac-sync',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
