import { Injectable, type NestMiddleware, UnsupportedMediaTypeException } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

/**
 * A request body must be JSON. The JSON parser reads only `application/json` (and `+json`) bodies:
 * any other one reached a route as no body at all, so `POST /admin/exports` sent as text/plain
 * with `{"fields": [...]}` exported every field. A body of another type is a 415 instead, saying so;
 * a request without a body (most admin POSTs) passes.
 */
@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  use(req: Request, _res: Response, next: NextFunction): void {
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (hasBody && !req.is(['application/json', '+json'])) {
      const type = req.headers['content-type'];
      throw new UnsupportedMediaTypeException(`the request body must be JSON (Content-Type: application/json), not ${type === undefined ? 'a body without a Content-Type' : type.split(';')[0]!.trim()}`);
    }
    next();
  }
}
