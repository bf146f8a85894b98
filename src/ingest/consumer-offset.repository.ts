import type { DataSource, EntityManager } from 'typeorm';

export class ConsumerOffsetRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The next offset to read per partition, as stored with the changes; partitions never stored are absent. */
  async find(groupId: string, partitions: Array<{ topic: string; partition: number }>): Promise<Array<{ topic: string; partition: number; offset: string }>> {
    if (partitions.length === 0) return [];
    const rows: Array<{ topic: string; partition: number; next_offset: string }> = await this.dataSource.query(
      `SELECT o.topic, o.partition, o.next_offset::text AS next_offset
         FROM consumer_offset o
         JOIN jsonb_to_recordset($2::jsonb) AS a(topic text, partition int) ON a.topic = o.topic AND a.partition = o.partition
        WHERE o.group_id = $1 AND o.next_offset >= 0`,
      [groupId, JSON.stringify(partitions)],
    );
    return rows.map((row) => ({ topic: row.topic, partition: row.partition, offset: row.next_offset }));
  }

  /**
   * Locks the partition's offset row for this transaction and returns the next offset to apply
   * (null when the partition was never stored; messages below it were applied already) and the
   * partition's snapshot source-time floor.
   */
  async lock(db: EntityManager, groupId: string, topic: string, partition: number): Promise<{ next: bigint | null; floor: number }> {
    // One statement inserts the row if needed and locks it (the no-op update takes the row lock).
    const rows: Array<{ next_offset: string; source_ts_floor: string }> = await db.query(
      `INSERT INTO consumer_offset (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, -1)
       ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = consumer_offset.next_offset
       RETURNING next_offset::text, source_ts_floor::text`,
      [groupId, topic, partition],
    );
    const next = BigInt(rows[0]!.next_offset);
    return { next: next < 0n ? null : next, floor: Number(rows[0]!.source_ts_floor) };
  }

  /** Invariant 1: stored in the same transaction as the changes the messages produced. */
  async store(db: EntityManager, groupId: string, topic: string, partition: number, nextOffset: bigint, floor: number): Promise<void> {
    await db.query(
      `UPDATE consumer_offset SET next_offset = $4, source_ts_floor = $5, updated_at = now()
        WHERE group_id = $1 AND topic = $2 AND partition = $3`,
      [groupId, topic, partition, nextOffset.toString(), floor],
    );
  }
}
