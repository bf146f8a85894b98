import type { TopicPartitionOffset } from '../kafka/batch-consumer';

/** INGEST_START_WITHOUT_STORED_OFFSET: where a partition starts when Postgres holds no offset for it. */
export type StartWithoutStoredOffset = 'committed' | 'earliest';

/** Where one assigned partition starts reading, and why, as the log line says it. */
export interface PartitionStart extends TopicPartitionOffset {
  from: 'postgres' | 'committed' | 'earliest';
  why: string;
  /** True when messages the broker still holds are skipped without ever being staged in this database. */
  skipsRetained: boolean;
}

/**
 * Where each assigned partition starts: the offset stored in Postgres with the staged changes
 * (the truth, invariant 1); without one, the group's committed offset or the earliest the broker
 * holds, as `policy` says. A group that committed nothing starts at the earliest either way.
 */
export function planPartitionStarts(
  assigned: ReadonlyArray<{ topic: string; partition: number }>,
  stored: readonly TopicPartitionOffset[],
  broker: ReadonlyArray<{ topic: string; partition: number; earliest: string; committed: string | null }>,
  policy: StartWithoutStoredOffset,
): PartitionStart[] {
  const lane = (p: { topic: string; partition: number }) => `${p.topic}|${p.partition}`;
  const storedBy = new Map(stored.map((position) => [lane(position), position.offset]));
  const brokerBy = new Map(broker.map((entry) => [lane(entry), entry]));
  return assigned.map(({ topic, partition }) => {
    const at = storedBy.get(lane({ topic, partition }));
    if (at !== undefined) return { topic, partition, offset: at, from: 'postgres', why: 'the offset stored in Postgres with the staged changes', skipsRetained: false };
    const known = brokerBy.get(lane({ topic, partition }));
    const earliest = known?.earliest ?? '0';
    if (policy === 'earliest') {
      return { topic, partition, offset: earliest, from: 'earliest', why: 'no offset in Postgres, and INGEST_START_WITHOUT_STORED_OFFSET=earliest', skipsRetained: false };
    }
    if (known?.committed == null) {
      return { topic, partition, offset: earliest, from: 'earliest', why: 'no offset in Postgres, and the consumer group has committed none', skipsRetained: false };
    }
    const skipsRetained = BigInt(known.committed) > BigInt(earliest);
    return {
      topic,
      partition,
      offset: known.committed,
      from: 'committed',
      why:
        'no offset in Postgres, so the consumer group\'s committed offset (INGEST_START_WITHOUT_STORED_OFFSET=committed)' +
        (skipsRetained ? `: messages from ${earliest} are not read into this database; set INGEST_START_WITHOUT_STORED_OFFSET=earliest to read them` : ''),
      skipsRetained,
    };
  });
}
