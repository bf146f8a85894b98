import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor, UnsupportedMediaTypeException } from '@nestjs/common';
import type { Request } from 'express';
import type { Observable } from 'rxjs';

/**
 * A request body must be JSON. The JSON parser reads only `application/json` (and `+json`) bodies:
 * any other one reached a route as no body at all, so `POST /admin/exports` sent as text/plain
 * with `{"fields": [...]}` exported every field. A body of another type is a 415 instead, saying so;
 * a request without a body (most admin POSTs) passes. An interceptor, not a middleware: it runs
 * once the route is known, so the access log names the route refused.
 */
@Injectable()
export class JsonBodyInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const req = context.switchToHttp().getRequest<Request>();
      const length = req.headers['content-length'];
      const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
      if (hasBody && !req.is(['application/json', '+json'])) {
        const type = req.headers['content-type'];
        throw new UnsupportedMediaTypeException(`the request body must be JSON (Content-Type: application/json), not ${type === undefined ? 'a body without a Content-Type' : type.split(';')[0]!.trim()}`);
      }
    }
    return next.handle();
  }
}
