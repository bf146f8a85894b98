import pino, { type Logger } from 'pino';
import type { LogLevel } from './sandbox.config';

/** The sandbox's own logger: JSON lines on stdout. Requests and tasks log at debug. */
export function createSandboxLogger(level: LogLevel): Logger {
  return pino({ name: 'caac-sandbox', level, base: undefined });
}
