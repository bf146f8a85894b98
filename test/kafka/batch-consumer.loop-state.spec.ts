import { createLogger } from '../../src/common/logger';
import { BatchConsumer } from '../../src/kafka/batch-consumer';
import type { KafkaAdapter } from '../../src/kafka/kafka.adapter';

/** kafkajs's consumer as far as its lifecycle events go: the test plays the library's part. */
class FakeKafkaConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash', STOP: 'consumer.stop' };
  private readonly listeners = new Map<string, Array<(event: { payload: unknown }) => void>>();

  on(event: string, listener: (event: { payload: unknown }) => void): void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }

  emit(event: string, payload: unknown = {}): void {
    for (const listener of this.listeners.get(event) ?? []) listener({ payload });
  }

  /** What kafkajs does on a crash: it disconnects (which stops, emitting STOP), then reports CRASH. */
  crash(restart: boolean): void {
    this.emit(this.events.STOP);
    this.emit(this.events.CRASH, { error: new Error('boom'), groupId: 'g', restart });
  }

  async connect(): Promise<void> {}
  async subscribe(): Promise<void> {}
  async run(): Promise<void> {}
  async stop(): Promise<void> {
    this.emit(this.events.STOP);
  }
  async disconnect(): Promise<void> {}
}

async function started(): Promise<{ sut: BatchConsumer; kafkajs: FakeKafkaConsumer }> {
  const kafkajs = new FakeKafkaConsumer();
  const adapter = { client: { consumer: () => kafkajs } } as unknown as KafkaAdapter;
  const sut = new BatchConsumer(
    adapter,
    {
      groupId: 'g',
      topics: ['crm'],
      maxBytesPerPartition: 1_024,
      maxBytes: 2_048,
      maxBatchMessages: 1_000,
      partitionsConsumedConcurrently: 1,
      sessionTimeoutMs: 6_000,
      pauseAfterMs: 1_000,
      startOffsets: async () => [],
    },
    createLogger({ level: 'silent' }),
  );
  await sut.start(async () => undefined);
  return { sut, kafkajs };
}

describe(`${BatchConsumer.name} loop state`, () => {
  it('runs once started', async () => {
    const { sut } = await started();

    expect(sut.loopState()).toEqual({ running: true, lastActivityAt: null, inWork: 0 });
  });

  it('still runs after a crash kafkajs restarts from', async () => {
    const { sut, kafkajs } = await started();

    kafkajs.crash(true);

    expect(sut.loopState().running).toBe(true);
  });

  it('no longer runs after a crash kafkajs does not restart from', async () => {
    const { sut, kafkajs } = await started();

    kafkajs.crash(false);

    expect(sut.loopState().running).toBe(false);
  });

  it('no longer runs once stopped', async () => {
    const { sut } = await started();

    await sut.stop();

    expect(sut.loopState().running).toBe(false);
  });
});
