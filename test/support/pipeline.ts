import type { Client } from 'pg';
import { highWatermarks, readTopic, type ReadMessage } from './kafka-io';
import type { GeneratedStream } from './profile-events';
import { waitFor } from './wait-for';

/** Waits until the service has stored every partition of `topic` up to its current end. */
export async function waitUntilStaged(db: Client, topic: string, timeoutMs = 60_000): Promise<void> {
  const high = await highWatermarks(topic);
  await waitFor(
    `${topic} staged`,
    async () => {
      const { rows } = await db.query(`SELECT partition, next_offset::text AS next FROM consumer_offset WHERE topic = $1`, [topic]);
      const stored = new Map(rows.map((row: { partition: number; next: string }) => [row.partition, BigInt(row.next)]));
      return [...high].every(([partition, offset]) => offset === 0n || stored.get(partition) === offset) ? true : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/** Waits until nothing is pending and no import batch is open. */
export async function waitUntilImported(db: Client, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'the backlog imported',
    async () => {
      const { rows } = await db.query(
        `SELECT (SELECT count(*) FROM pending_change)::int AS pending,
                (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed'))::int AS open`,
      );
      return rows[0].pending === 0 && rows[0].open === 0 ? true : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** The values staged per customer_id (stamps dropped), to compare with a stream's reference model. */
export async function pendingValues(db: Client): Promise<Map<string, Record<string, unknown>>> {
  const { rows } = await db.query(`SELECT key_value, fields FROM pending_change WHERE key_type = 'customer_id'`);
  return new Map(
    rows.map((row: { key_value: string; fields: Record<string, { v: unknown }> }) => [
      row.key_value,
      Object.fromEntries(Object.entries(row.fields).map(([field, stamped]) => [field, stamped.v])),
    ]),
  );
}

/** Asserts that the staged values are the stream's reference model, contact by contact. */
export async function expectStagedAsModel(db: Client, stream: GeneratedStream): Promise<void> {
  const pending = await pendingValues(db);
  expect(pending.size).toBe(stream.expected.size);
  for (const [customerId, fields] of stream.expected) expect([customerId, pending.get(customerId)]).toEqual([customerId, fields]);
}

/**
 * Reads the dead-letter topic until every bad event of the stream is there, and returns the letters
 * with the bad events' values (base64). Dead letters are at least once: a batch whose letters went
 * out before its transaction failed (a kill, Postgres gone) sends them again.
 */
export async function readEveryDeadLetter(
  dlqTopic: string,
  stream: GeneratedStream,
  timeoutMs: number,
): Promise<{ letters: ReadMessage[]; bad: Set<string> }> {
  const bad = new Set(stream.messages.filter((m) => m.bad).map((m) => m.value.toString('base64')));
  const letters = await readTopic(dlqTopic, stream.badCount, timeoutMs, (read) => {
    const received = new Set(read.map((letter) => letter.value!.toString('base64')));
    return [...bad].every((value) => received.has(value));
  });
  return { letters, bad };
}
