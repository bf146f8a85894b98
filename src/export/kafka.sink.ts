import type { KafkaAdapter, MessageProducer, OutgoingMessage } from '../kafka/kafka.adapter';
import type { CaacContactRepository } from './caac-contact.repository';

/** Partitions of the export topic when the service creates it: consumers of a brand may read in parallel. */
export const EXPORT_TOPIC_PARTITIONS = 3;
/** Staged contacts read from Postgres at a time: a page is a few hundred KB. */
const PAGE_ROWS = 1_000;

export interface TopicDelivery {
  rows: number;
  tombstones: number;
}

/**
 * Publishes an export to the compacted export topic: one message per contact keyed by
 * `contact_id`, value `{contact_id, fields, export_id, exported_at}`; then a tombstone for every
 * contact the topic holds and this export does not name (a refused row keeps its contact's value). Messages go in
 * sends of at most `batchBytes` (keys and values), each acknowledged by all in-sync replicas.
 * A failed send rejects; the caller publishes again from the staged file (at least once).
 */
export class KafkaSink {
  private producer: MessageProducer | undefined;

  constructor(
    private readonly kafka: KafkaAdapter,
    private readonly contacts: CaacContactRepository,
    readonly topic: string,
    private readonly batchBytes: number,
    private readonly replicationFactor?: number,
  ) {}

  /** Stops between pages once `signal` aborts (shutdown); the next attempt publishes from the start. */
  async publish(jobId: string, exportId: string, exportedAt: Date, onSent: (messages: number) => void, signal?: AbortSignal): Promise<TopicDelivery> {
    await this.kafka.ensureTopics([
      { topic: this.topic, partitions: EXPORT_TOPIC_PARTITIONS, replicationFactor: this.replicationFactor, config: { 'cleanup.policy': 'compact' } },
    ]);
    this.producer ??= await this.kafka.createProducer();
    const producer = this.producer;
    const tail = `,"export_id":${JSON.stringify(exportId)},"exported_at":${JSON.stringify(exportedAt.toISOString())}}`;
    const batch = new SizeBoundedBatch(this.batchBytes, async (messages) => {
      await producer.send(this.topic, messages);
      // What the broker acknowledged is recorded at once: a publish cut short still leaves the set
      // of contacts the topic holds true, so the next export tombstones those it lacks.
      const values: string[] = [];
      const tombstones: string[] = [];
      for (const message of messages) (message.value === null ? tombstones : values).push(String(message.key));
      await this.contacts.recordPublished(values, tombstones);
      onSent(messages.length);
    });

    // Pages follow a key that only grows, so each loop ends after the last row.
    let rows = 0;
    let page = await this.contacts.stagedPage(jobId, 0, PAGE_ROWS);
    while (page.length > 0) {
      signal?.throwIfAborted();
      for (const contact of page) {
        await batch.add({ key: contact.contactId, value: `{"contact_id":${JSON.stringify(contact.contactId)},"fields":${contact.fieldsJson}${tail}` });
      }
      rows += page.length;
      page = await this.contacts.stagedPage(jobId, page[page.length - 1]!.line, PAGE_ROWS);
    }
    let tombstones = 0;
    let missing = await this.contacts.missingFromExport(jobId, '', PAGE_ROWS);
    while (missing.length > 0) {
      signal?.throwIfAborted();
      for (const contactId of missing) await batch.add({ key: contactId, value: null });
      tombstones += missing.length;
      missing = await this.contacts.missingFromExport(jobId, missing[missing.length - 1]!, PAGE_ROWS);
    }
    await batch.flush();
    return { rows, tombstones };
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
  }
}

/** Gathers messages and sends them once the next one would pass `maxBytes`. */
class SizeBoundedBatch {
  private messages: OutgoingMessage[] = [];
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly send: (messages: OutgoingMessage[]) => Promise<void>,
  ) {}

  async add(message: OutgoingMessage): Promise<void> {
    const size = byteLength(message.key) + byteLength(message.value);
    if (this.messages.length > 0 && this.bytes + size > this.maxBytes) await this.flush();
    this.messages.push(message);
    this.bytes += size;
  }

  async flush(): Promise<void> {
    if (this.messages.length === 0) return;
    const messages = this.messages;
    this.messages = [];
    this.bytes = 0;
    await this.send(messages);
  }
}

function byteLength(data: Buffer | string | null): number {
  if (data === null) return 0;
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
}
