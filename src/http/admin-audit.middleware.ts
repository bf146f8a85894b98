import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { KeyedHash } from '../common/keyed-hash';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { isKeyType, normaliseKeyValue, type PhoneRegion } from '../profile';
import { routeParams, routeTemplate } from './route-template';

/** Methods that only read; every other method on /admin changes something and is audited. */
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Admin routes whose answers hold personal data (contact keys and values): reads of them are audited too. */
export const PERSONAL_DATA_ROUTES: ReadonlySet<string> = new Set(['/admin/contacts/:keyType/:keyValue', '/admin/exports/:id/drift']);

/**
 * An `audit` log line for every admin write and every read of personal data, whether it was
 * allowed, refused or failed: who can only be "the holder of ADMIN_TOKEN" (or not), so the line
 * says what was asked (the route template and its parameters), the answer, the request id that
 * finds the access log line, and the caller's address. A contact key is written as its key type and
 * a keyed hash of its normalised value (KeyedHash.ofKey), never the value; the token never.
 */
@Injectable()
export class AdminAuditMiddleware implements NestMiddleware {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly hash: KeyedHash,
  ) {}

  use(req: Request, res: Response, next: NextFunction): void {
    res.once('finish', () => {
      const route = routeTemplate(req);
      if (READ_METHODS.has(req.method) && !PERSONAL_DATA_ROUTES.has(route)) return;
      const { keyValue, ...params } = routeParams(req);
      this.logger.info(
        {
          audit: {
            requestId: (req as Request & { id?: unknown }).id,
            method: req.method,
            route,
            params,
            ...(keyValue !== undefined && { keyHash: this.keyHash(params.keyType, keyValue) }),
            status: res.statusCode,
            authorized: res.statusCode !== 401,
            remoteAddress: req.socket.remoteAddress,
          },
        },
        `admin ${req.method} ${route} ${res.statusCode}`,
      );
    });
    next();
  }

  /** The same person hashes the same however the request spelled the key (`Amy@Example.com`, `amy@example.com`). */
  private keyHash(keyType: string | undefined, keyValue: string): string {
    if (keyType === undefined || !isKeyType(keyType)) return this.hash.ofKey(String(keyType), keyValue);
    const normalised = normaliseKeyValue(keyType, keyValue, this.config.defaultPhoneRegion as PhoneRegion);
    return this.hash.ofKey(keyType, normalised.ok ? normalised.value : keyValue);
  }
}
