import type { AppConfig } from '../../src/config/app-config';
import type { ImportScheduler } from '../../src/importer/import-scheduler.service';
import type { ImporterLeader } from '../../src/importer/importer-leader.service';
import type { ConsumeLoopState, PartitionState } from '../../src/kafka/batch-consumer';
import type { ConsumerLag, PartitionLag } from '../../src/ops/consumer-lag';
import type { ConsumerStatus } from '../../src/ingest/consumer-status';
import { LivenessProbe } from '../../src/ops/liveness.probe';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const STALL_MS = 60_000;

interface World {
  loop: ConsumeLoopState;
  assigned: Array<{ topic: string; partition: number }>;
  lags: PartitionLag[] | undefined;
  leader: boolean;
  stalledForMs: number;
}

function aWorld(overrides: Partial<World> = {}): World {
  return {
    loop: { running: true, lastActivityAt: NOW - 1_000, inWork: 0 },
    assigned: [{ topic: 'crm', partition: 0 }],
    lags: [{ topic: 'crm', partition: 0, lag: 0 }],
    leader: true,
    stalledForMs: 0,
    ...overrides,
  };
}

function probeOf(world: World): LivenessProbe {
  const config = { health: { partitionStuckMs: 30_000, ingestStallMs: STALL_MS, importerStallMs: 600_000 } } as AppConfig;
  const consumer: ConsumerStatus = {
    joined: () => true,
    details: () => ({}),
    loopState: () => world.loop,
    partitionStates: () => world.assigned.map((entry): PartitionState => ({ ...entry, inWorkSince: null, pausedSince: null })),
  };
  const lag = { lastKnown: () => (world.lags ? { at: NOW, lags: world.lags } : undefined) } as unknown as ConsumerLag;
  const leader = { isLeader: () => world.leader } as ImporterLeader;
  const scheduler = { stalledForMs: () => world.stalledForMs } as unknown as ImportScheduler;
  return new LivenessProbe(config, consumer, lag, leader, scheduler);
}

describe(LivenessProbe.name, () => {
  it('is up while the loop runs, even idle for long, when nothing waits', () => {
    const sut = probeOf(aWorld({ loop: { running: true, lastActivityAt: NOW - 10 * STALL_MS, inWork: 0 } }));

    expect(sut.check(NOW)).toEqual({ status: 'ok', checks: { consumer: { status: 'up' }, ingest: { status: 'up' }, importer: { status: 'up' } } });
  });

  it('fails when the consume loop no longer runs (kafkajs crashed without restarting, or stopped)', () => {
    const sut = probeOf(aWorld({ loop: { running: false, lastActivityAt: NOW - 1_000, inWork: 0 } }));

    expect(sut.check(NOW)).toMatchObject({ status: 'error', checks: { consumer: { status: 'down', reason: 'consumer_stopped' } } });
  });

  it('fails when its partitions lag and the loop has done nothing for the stall limit', () => {
    const sut = probeOf(aWorld({ loop: { running: true, lastActivityAt: NOW - STALL_MS, inWork: 0 }, lags: [{ topic: 'crm', partition: 0, lag: 7 }] }));

    expect(sut.check(NOW).checks.ingest).toEqual({ status: 'down', reason: 'no_progress', idleMs: STALL_MS, lag: 7, inWork: 0 });
  });

  it('fails when a batch has been in hand for the stall limit without a retry or an end', () => {
    const sut = probeOf(aWorld({ loop: { running: true, lastActivityAt: NOW - STALL_MS - 1, inWork: 1 }, lags: undefined }));

    expect(sut.check(NOW).checks.ingest).toEqual({ status: 'down', reason: 'no_progress', idleMs: STALL_MS + 1, lag: 0, inWork: 1 });
  });

  it("ignores the lag of partitions another member owns: that member's liveness answers for them", () => {
    const sut = probeOf(
      aWorld({ loop: { running: true, lastActivityAt: NOW - 2 * STALL_MS, inWork: 0 }, lags: [{ topic: 'crm', partition: 0, lag: 0 }, { topic: 'crm', partition: 1, lag: 500 }] }),
    );

    expect(sut.check(NOW).checks.ingest).toEqual({ status: 'up' });
  });

  it('is up while work waits and the loop keeps acting, as during a Postgres outage with retries', () => {
    const sut = probeOf(aWorld({ loop: { running: true, lastActivityAt: NOW - STALL_MS + 1, inWork: 2 }, lags: [{ topic: 'crm', partition: 0, lag: 900 }] }));

    expect(sut.check(NOW).status).toBe('ok');
  });

  it('fails when the leading importer loop is overdue, and never for a standby', () => {
    expect(probeOf(aWorld({ leader: true, stalledForMs: 5_000 })).check(NOW).checks.importer).toEqual({ status: 'down', reason: 'stalled', overdueMs: 5_000 });
    expect(probeOf(aWorld({ leader: false, stalledForMs: 5_000 })).check(NOW).checks.importer).toEqual({ status: 'up' });
  });
});
