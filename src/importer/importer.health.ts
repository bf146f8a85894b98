import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { CaacClient } from '../caac/caac.client';
import { ImportScheduler } from './import-scheduler.service';
import { ImporterLeader } from './importer-leader.service';

/**
 * The importer's state for readiness details. An open breaker or a standby role is reported, not
 * fatal, because ingest goes on and the backlog is the buffer; import requests refused as a whole
 * (a configuration problem) make the importer down, with the reason.
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
    const details = {
      role: !this.leader.enabled ? 'disabled' : this.leader.isLeader() ? 'leader' : 'standby',
      account: this.scheduler.account,
      breaker: this.client.breakerState(),
      inFlight: this.scheduler.inFlight(),
    };
    // A refused request (400, 401, 403, 404, 422) will not pass by itself: an operator must act,
    // so it is the one importer state that makes the instance unready. The body says how CAAC
    // refused and since when; its message is in the logs, not on an open port.
    const refused = this.scheduler.refusal();
    if (refused) {
      return this.indicator.check(key).down({ ...details, reason: 'refused', refused: { status: refused.status, code: refused.code, since: refused.since } });
    }
    return this.indicator.check(key).up(details);
  }
}
