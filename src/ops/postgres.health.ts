import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';
import { withTimeout } from '../common/with-timeout';
import { CachedRead } from './cached-read';
import { failureReason, type FailureReason } from './failure-reason';
import { PROBE_CACHE_MS, PROBE_DATA_SOURCE } from './probe-data-source';

/** A ping that hangs (a half-open connection, a stalled server) counts as down after this long. */
export const POSTGRES_HEALTH_TIMEOUT_MS = 2_000;

/**
 * Whether Postgres answers, through the probes' own pool; the answer is shared by every probe for
 * PROBE_CACHE_MS, so readiness costs Postgres one ping per period however often it is asked.
 */
@Injectable()
export class PostgresHealth {
  private readonly ping: CachedRead<FailureReason | undefined>;

  constructor(
    @Inject(PROBE_DATA_SOURCE) dataSource: DataSource,
    private readonly indicator: HealthIndicatorService,
  ) {
    this.ping = new CachedRead(PROBE_CACHE_MS, () =>
      withTimeout(dataSource.query('SELECT 1'), POSTGRES_HEALTH_TIMEOUT_MS, 'Postgres').then(
        () => undefined,
        (error: unknown) => failureReason(error),
      ),
    );
  }

  /** Down with a reason category (timeout, unreachable, auth_failed, error), never the driver's text. */
  async check(key = 'postgres'): Promise<HealthIndicatorResult> {
    const session = this.indicator.check(key);
    const reason = await this.ping.get();
    return reason === undefined ? session.up() : session.down({ reason });
  }
}
