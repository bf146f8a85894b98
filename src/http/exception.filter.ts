import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from '../common/logger';
import { routeTemplate } from './route-template';

/**
 * The one place an HTTP request's failure is answered and logged. Nest's own filter logs an
 * unexpected error's message and stack as they are; a database error's message quotes the value
 * it refused, and a request's may hold whatever the caller sent. Here an error is logged through
 * the logger's error serializer (which drops queries and parameters and masks quoted values), with
 * the request id and the route template, never the URL or the body; the caller gets a generic 500.
 * A refusal or an answer the code made on purpose (an HttpException: a 4xx, a not-ready 503 of a
 * probe, a 503 for a read that timed out) is answered as Nest answers it and not logged here: the
 * access log has its line, at the level its status calls for.
 */
@Catch()
export class HttpExceptionsFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const req = host.switchToHttp().getRequest<Request & { id?: unknown }>();
    const res = host.switchToHttp().getResponse<Response>();
    const status = exception instanceof HttpException ? exception.getStatus() : HttpStatus.INTERNAL_SERVER_ERROR;
    if (!(exception instanceof HttpException)) {
      this.logger.error({ err: exception, requestId: req.id, method: req.method, route: routeTemplate(req), status }, `${req.method} ${routeTemplate(req)} failed`);
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    const body = exception instanceof HttpException ? exception.getResponse() : { statusCode: status, message: 'Internal server error' };
    res.status(status).json(typeof body === 'string' ? { statusCode: status, message: body } : body);
  }
}
