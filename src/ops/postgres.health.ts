import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { DataSource } from 'typeorm';
import { withTimeout } from '../common/with-timeout';
import { failureReason } from './failure-reason';

/** A ping that hangs (a half-open connection, a stalled server) counts as down after this long. */
export const POSTGRES_HEALTH_TIMEOUT_MS = 2_000;

@Injectable()
export class PostgresHealth {
  constructor(
    private readonly dataSource: DataSource,
    private readonly indicator: HealthIndicatorService,
  ) {}

  /** Down with a reason category (timeout, unreachable, auth_failed, error), never the driver's text. */
  async check(key = 'postgres'): Promise<HealthIndicatorResult> {
    const session = this.indicator.check(key);
    try {
      await withTimeout(this.dataSource.query('SELECT 1'), POSTGRES_HEALTH_TIMEOUT_MS, 'Postgres');
      return session.up();
    } catch (error) {
      return session.down({ reason: failureReason(error) });
    }
  }
}
