import type { LoggerService } from '@nestjs/common';
import type { Logger } from './logger';

/**
 * Contexts whose errors Nest logs and then throws on to the caller: the start-up exception handler
 * (not `ExceptionsHandler`, the one of requests; abortOnError is off) and the application's
 * `listen` (a busy port). main reports every start-up failure in one line, so they would show twice.
 */
const RETHROWN_ERROR_CONTEXTS = new Set(['ExceptionHandler', 'NestApplication']);

/** Routes Nest's own log lines into the process's pino logger, so every line is JSON and redacted. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    if (context !== undefined && RETHROWN_ERROR_CONTEXTS.has(context)) return;
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}

export const LOGGER = Symbol('Logger');
