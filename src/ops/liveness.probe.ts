import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ImportScheduler } from '../importer/import-scheduler.service';
import { ImporterLeader } from '../importer/importer-leader.service';
import { ConsumerLag } from './consumer-lag';
import { CONSUMER_STATUS, type ConsumerStatus } from '../ingest/consumer-status';

/** Liveness reuses a lag measured this recently rather than waiting on Kafka or Postgres. */
const LIVENESS_LAG_MAX_AGE_MS = 10_000;

export type LivenessCheck = 'consumer' | 'ingest' | 'importer';

export interface LivenessResult {
  status: 'ok' | 'error';
  /** Every check, up or down; a down one carries its reason category. */
  checks: Record<LivenessCheck, { status: 'up' | 'down'; reason?: string; [detail: string]: unknown }>;
}

/**
 * Whether this process still does its work, so that the orchestrator restarts it when it does
 * not: the consume loop runs; it does something (hands over a batch, retries, stores) while work
 * waits (lag, or a batch in hand); the leader's importer loop turns within its planned waits.
 * Nothing here waits on a dependency: an outage of Postgres or Kafka is readiness's business,
 * and the consume loop's retries during one count as activity.
 */
@Injectable()
export class LivenessProbe {
  /** Before any consume-loop activity, stalls are measured from the start of the process. */
  private readonly startedAt = Date.now();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CONSUMER_STATUS) private readonly consumer: ConsumerStatus,
    private readonly lag: ConsumerLag,
    private readonly leader: ImporterLeader,
    private readonly scheduler: ImportScheduler,
  ) {}

  check(now = Date.now()): LivenessResult {
    const loop = this.consumer.loopState();
    const checks: LivenessResult['checks'] = {
      consumer: loop.running ? { status: 'up' } : { status: 'down', reason: 'consumer_stopped' },
      ingest: { status: 'up' },
      importer: { status: 'up' },
    };

    // Only this member's partitions: another member's lag is that member's to answer for.
    const assigned = new Set(this.consumer.partitionStates().map((state) => `${state.topic}|${state.partition}`));
    const lags = this.lag.lastKnown(LIVENESS_LAG_MAX_AGE_MS, now)?.lags ?? [];
    const lagged = lags.filter((entry) => assigned.has(`${entry.topic}|${entry.partition}`)).reduce((sum, entry) => sum + entry.lag, 0);
    const idleMs = now - (loop.lastActivityAt ?? this.startedAt);
    if ((loop.inWork > 0 || lagged > 0) && idleMs >= this.config.health.ingestStallMs) {
      checks.ingest = { status: 'down', reason: 'no_progress', idleMs, lag: lagged, inWork: loop.inWork };
    }

    const stalledMs = this.leader.isLeader() ? this.scheduler.stalledForMs() : 0;
    if (stalledMs > 0) checks.importer = { status: 'down', reason: 'stalled', overdueMs: stalledMs };

    const down = Object.values(checks).some((check) => check.status === 'down');
    return { status: down ? 'error' : 'ok', checks };
  }
}
