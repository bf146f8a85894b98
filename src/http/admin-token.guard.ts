import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { Metrics } from '../telemetry/metrics';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * `/admin` needs `Authorization: Bearer <ADMIN_TOKEN>`. The comparison takes the same time whatever
 * the guess (both sides hashed to equal length first), and the error never repeats what was sent.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly metrics: Metrics,
  ) {
    this.expected = digest(config.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!.trim()), this.expected)) {
      this.metrics.adminAuthFailures.inc();
      throw new UnauthorizedException('a valid "Authorization: Bearer <ADMIN_TOKEN>" header is required');
    }
    return true;
  }
}
