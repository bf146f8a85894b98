import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { serializeError, type Logger } from '../common/logger';
import { routeTemplate } from './route-template';

/** The request id header: taken from the caller (a proxy's id) when sane, else made here, and echoed. */
export const REQUEST_ID_HEADER = 'x-request-id';
/** A caller's id longer than this, or with other characters, is replaced: it goes into every log line. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers[REQUEST_ID_HEADER];
  const id = typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * The level of a request's line: 5xx is the service's fault (error), 4xx the caller's (info, like
 * the rest); a 503 is a probe or route saying a dependency is not ready, which its body explains
 * (warn: an orchestrator polls readiness, and an outage must not fill the error log).
 */
export function accessLogLevel(statusCode: number, error?: Error): 'error' | 'warn' | 'info' {
  if (error) return 'error';
  if (statusCode === 503) return 'warn';
  return statusCode >= 500 ? 'error' : 'info';
}

/** pino-http's words for a 5xx answered without an error thrown. */
const SYNTHETIC_ERROR = /^failed with status code \d+$/;

/**
 * The line's fields: pino-http makes an Error, with its own stack, for every 5xx answered without
 * one; that stack says nothing, so it is left out (the line keeps the status). An error the
 * response carries is kept: it is the real one.
 */
export function accessLogErrorObject(res: { err?: unknown }, error: Error, value: Record<string, unknown>): Record<string, unknown> {
  if (res.err || !SYNTHETIC_ERROR.test(error.message)) return value;
  const { err: _synthetic, ...rest } = value;
  return rest;
}

/**
 * One access log line per request, through pino-http on the process's own logger (so the same
 * redaction applies: `authorization` never appears). The line has the request id, method, the
 * route template it matched (never the URL: paths and query strings can hold e-mail addresses and
 * phone numbers), status and time taken; headers are left out but the user agent, as they say
 * little and may carry secrets of a caller's own.
 */
@Module({})
export class AccessLogModule {
  static forRoot(logger: Logger): DynamicModule {
    return {
      module: AccessLogModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            logger,
            genReqId: requestId,
            // TRICKY: the request is serialized when it arrives, before routing: the route is only
            // known when the response ends, so it is added then (customSuccessObject / customErrorObject).
            customSuccessMessage: (req, res) => `${req.method} ${routeTemplate(req)} ${res.statusCode}`,
            customErrorMessage: (req, res) => `${req.method} ${routeTemplate(req)} ${res.statusCode}`,
            customSuccessObject: (req, _res, line: Record<string, unknown>) => ({ ...line, route: routeTemplate(req) }),
            customErrorObject: (req, res, error, line: Record<string, unknown>) => ({
              ...accessLogErrorObject(res as ServerResponse & { err?: unknown }, error, line),
              route: routeTemplate(req),
            }),
            customLogLevel: (_req, res, error) => accessLogLevel(res.statusCode, error),
            serializers: {
              req: (req: { id: unknown; method: string; headers: Record<string, unknown> }) => ({
                id: req.id,
                method: req.method,
                userAgent: req.headers['user-agent'],
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
              // pino-http's own error serializer would replace the logger's, which keeps personal data out.
              err: serializeError,
            },
            wrapSerializers: false,
          },
        }),
      ],
    };
  }
}
