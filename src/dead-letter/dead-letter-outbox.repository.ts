import type { DataSource, EntityManager } from 'typeorm';
import { deadLetterHeaders, type DeadLetter } from './dead-letter';

export interface OutboxEntry {
  id: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

const toBuffer = (data: Buffer | string | null) => (data === null ? null : Buffer.isBuffer(data) ? data : Buffer.from(data));

/** Dead letters wait in Postgres until the topic has them, so a Kafka outage loses none. */
export class DeadLetterOutboxRepository {
  constructor(private readonly dataSource: DataSource) {}

  async add(db: EntityManager, letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    // bytea parameters go one statement per letter; dead letters are rare, so this stays cheap.
    for (const letter of letters) {
      await db.query(`INSERT INTO dead_letter_outbox (stage, message_key, message, headers) VALUES ($1, $2, $3, $4)`, [
        letter.stage,
        toBuffer(letter.key),
        toBuffer(letter.value),
        JSON.stringify(deadLetterHeaders(letter)),
      ]);
    }
  }

  /**
   * Publishes the oldest unpublished letters through `publish` and marks them published in the
   * same transaction; rows locked by another instance are skipped. Returns how many went out.
   */
  async relay(limit: number, publish: (entries: OutboxEntry[]) => Promise<void>): Promise<number> {
    return this.dataSource.transaction(async (db) => {
      const rows: Array<{ id: string; message_key: Buffer | null; message: Buffer | null; headers: Record<string, string> }> = await db.query(
        `SELECT id::text AS id, message_key, message, headers FROM dead_letter_outbox
          WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (rows.length === 0) return 0;
      await publish(rows.map((row) => ({ id: row.id, key: row.message_key, value: row.message, headers: row.headers })));
      await db.query(`UPDATE dead_letter_outbox SET published_at = now() WHERE id = ANY($1::bigint[])`, [rows.map((row) => row.id)]);
      return rows.length;
    });
  }

  /**
   * Deletes letters published more than `retentionMs` ago (by the database's clock), `batch` rows
   * per statement so that no transaction holds many locks or a long WAL burst; returns how many went.
   * A published letter is on the dead-letter topic; the row is only a copy, holding personal data.
   */
  async prunePublished(retentionMs: number, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const [, deleted] = (await this.dataSource.query(
        `DELETE FROM dead_letter_outbox WHERE id IN (
           SELECT id FROM dead_letter_outbox
            WHERE published_at < now() - make_interval(secs => $1::double precision / 1000)
            ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [retentionMs, batch],
      )) as [unknown, number];
      total += deleted;
      if (deleted < batch) return total;
    }
  }

  async counts(): Promise<Array<{ stage: string; published: number; unpublished: number }>> {
    return this.dataSource.query(
      `SELECT stage, count(*) FILTER (WHERE published_at IS NOT NULL)::int AS published,
              count(*) FILTER (WHERE published_at IS NULL)::int AS unpublished
         FROM dead_letter_outbox GROUP BY stage ORDER BY stage`,
    );
  }
}
