import type { DataSource } from 'typeorm';
import type { Clock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import type { AppConfig } from '../../src/config/app-config';
import { ChangeConsumer } from '../../src/ingest/change-consumer.service';
import type { TopicDecoders } from '../../src/ingest/topic-decoders';
import type { KafkaAdapter } from '../../src/kafka/kafka.adapter';
import { Metrics } from '../../src/telemetry/metrics';

/** A clock whose sleeps end only when their signal aborts: a retry's backoff that would last for ever. */
const sleepsUntilAborted: Clock = {
  now: () => Date.parse('2026-12-02T06:00:00.000Z'),
  sleep: (_ms, signal) => new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true })),
};

describe(`${ChangeConsumer.name} retrying a batch`, () => {
  it('stops waiting for its next attempt as soon as the consumer stops, and leaves the batch unstored', async () => {
    const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const dataSource = { transaction: jest.fn().mockRejectedValue(outage) } as unknown as DataSource;
    const metrics = new Metrics();
    const config = { kafka: { groupId: 'caac-sync' } } as AppConfig;
    // Every event skipped: the batch still stores its offsets, in the transaction that fails.
    const skip = () => ({ kind: 'skip' as const, reason: 'not a change' });
    const decoders = { prepare: async () => skip, forTopic: () => skip } as unknown as TopicDecoders;
    const sut = new ChangeConsumer(config, createLogger({ level: 'silent' }), sleepsUntilAborted, {} as KafkaAdapter, dataSource, decoders, metrics);
    const stopping = new AbortController();
    const heartbeat = jest.fn().mockResolvedValue(undefined);
    const batch = { topic: 'crm.profile-changes', partition: 0, messages: [{ offset: '7', key: null, value: Buffer.from('{}'), headers: {}, timestamp: '0' }] };

    const retrying = sut.stageWithRetry(batch as never, { heartbeat, isActive: () => !stopping.signal.aborted, signal: stopping.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    stopping.abort(new Error('the consumer is stopping'));

    await expect(retrying).rejects.toBe(outage);
    expect(dataSource.transaction).toHaveBeenCalledTimes(1);
    expect(heartbeat).not.toHaveBeenCalled();
    await expect(metrics.registry.getSingleMetricAsString('caac_sync_ingest_batch_retries_total')).resolves.toMatch(/caac_sync_ingest_batch_retries_total 1$/m);
  });
});
