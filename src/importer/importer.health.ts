import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { CaacClient } from '../caac/caac.client';
import { ImportScheduler } from './import-scheduler.service';
import { ImporterLeader } from './importer-leader.service';

/**
 * The importer's state for readiness details. It is reported, never fatal: an open breaker or a
 * standby role does not make the instance unready, because ingest goes on and the backlog is the buffer.
 */
@Injectable()
export class ImporterHealth {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly leader: ImporterLeader,
    private readonly scheduler: ImportScheduler,
    private readonly client: CaacClient,
  ) {}

  check(key = 'importer'): HealthIndicatorResult {
    return this.indicator.check(key).up({
      role: !this.leader.enabled ? 'disabled' : this.leader.isLeader() ? 'leader' : 'standby',
      account: this.scheduler.account,
      breaker: this.client.breakerState(),
      inFlight: this.scheduler.inFlight(),
    });
  }
}
