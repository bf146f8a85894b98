import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';

/** Methods that only read; every other method on /admin changes something and is audited. */
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * An `audit` log line for every admin write, whether it was allowed, refused or failed: who can
 * only be "the holder of ADMIN_TOKEN" (or not), so the line says what was asked, the answer and
 * the request id that finds the access log line. The token is never written.
 */
@Injectable()
export class AdminAuditMiddleware implements NestMiddleware {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  use(req: Request, res: Response, next: NextFunction): void {
    if (!READ_METHODS.has(req.method)) {
      res.once('finish', () => {
        this.logger.info(
          {
            audit: {
              requestId: (req as Request & { id?: unknown }).id,
              method: req.method,
              path: req.originalUrl,
              status: res.statusCode,
              authorized: res.statusCode !== 401,
              remoteAddress: req.socket.remoteAddress,
            },
          },
          `admin ${req.method} ${req.originalUrl} ${res.statusCode}`,
        );
      });
    }
    next();
  }
}
