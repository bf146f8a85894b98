import type { CaacContactRepository, StagedContact } from '../../src/export/caac-contact.repository';
import { KafkaSink } from '../../src/export/kafka.sink';
import type { KafkaAdapter, MessageProducer, OutgoingMessage } from '../../src/kafka/kafka.adapter';

/** Staged rows and the topic's previous contacts, served a page at a time like the repository does. */
function aStore(staged: StagedContact[], onTopic: string[]) {
  const topic = new Set(onTopic);
  const store = {
    stagedPage: async (_job: string, afterLine: number, limit: number) => staged.filter((c) => c.line > afterLine).slice(0, limit),
    missingFromExport: async (_job: string, afterId: string, limit: number) =>
      [...topic].filter((id) => id > afterId && !staged.some((c) => c.contactId === id)).sort().slice(0, limit),
    recordPublished: async (values: string[], tombstones: string[]) => {
      for (const id of values) topic.add(id);
      for (const id of tombstones) topic.delete(id);
    },
  };
  return { store: store as unknown as CaacContactRepository, topic };
}

function aKafka(send: (messages: OutgoingMessage[]) => Promise<void>) {
  const topics: unknown[] = [];
  const producer: MessageProducer = { send: (_topic, messages) => send(messages), disconnect: async () => undefined };
  const kafka = { ensureTopics: async (t: unknown[]) => void topics.push(...t), createProducer: async () => producer };
  return { kafka: kafka as unknown as KafkaAdapter, topics };
}

const staged = (n: number): StagedContact[] => Array.from({ length: n }, (_, i) => ({ contactId: `id-${String(i).padStart(3, '0')}`, fieldsJson: `{"customer_id":"C-${i}"}`, line: i + 2 }));
const EXPORTED_AT = new Date('2026-12-01T03:00:00.000Z');

describe(KafkaSink.name, () => {
  it('sends every contact keyed by contact_id, then tombstones, in sends no larger than the bound', async () => {
    const sends: OutgoingMessage[][] = [];
    const { kafka, topics } = aKafka(async (messages) => void sends.push(messages));
    const { store, topic } = aStore(staged(40), ['id-001', 'gone-1', 'gone-2']);
    const sut = new KafkaSink(kafka, store, 'caac.contacts', 1_000, 3);

    const delivered = await sut.publish('7', '7', EXPORTED_AT, () => undefined);

    expect(delivered).toEqual({ rows: 40, tombstones: 2 });
    expect(topics).toEqual([{ topic: 'caac.contacts', partitions: 3, replicationFactor: 3, config: { 'cleanup.policy': 'compact' } }]);
    const all = sends.flat();
    expect(all[0]).toEqual({ key: 'id-000', value: '{"contact_id":"id-000","fields":{"customer_id":"C-0"},"export_id":"7","exported_at":"2026-12-01T03:00:00.000Z"}' });
    expect(all.slice(-2)).toEqual([{ key: 'gone-1', value: null }, { key: 'gone-2', value: null }]);
    expect(all).toHaveLength(42);
    for (const send of sends) expect(send.reduce((bytes, m) => bytes + Buffer.byteLength(m.key as string) + Buffer.byteLength((m.value as string | null) ?? ''), 0)).toBeLessThanOrEqual(1_000);
    expect(sends.length).toBeGreaterThan(1);
    expect([...topic].sort()).toEqual(staged(40).map((c) => c.contactId));
  });

  it('rejects on a failed send, having recorded exactly what the broker acknowledged before it', async () => {
    const acknowledged: OutgoingMessage[] = [];
    let calls = 0;
    const { kafka } = aKafka(async (messages) => {
      if (++calls === 2) throw new Error('broker refused');
      acknowledged.push(...messages);
    });
    const { store, topic } = aStore(staged(40), ['gone-1']);
    const sut = new KafkaSink(kafka, store, 'caac.contacts', 1_000);

    await expect(sut.publish('7', '7', EXPORTED_AT, () => undefined)).rejects.toThrow('broker refused');
    expect(acknowledged.length).toBeGreaterThan(0);
    expect([...topic].sort()).toEqual(['gone-1', ...acknowledged.map((m) => m.key as string)].sort());
  });
});
