import type { DataSource } from 'typeorm';
import type { ImportRequestRecorder } from '../caac/caac.client';

/** Records are kept this long: far more than a rate window, enough to read what happened. */
export const IMPORT_REQUEST_LOG_KEEP_MS = 60 * 60 * 1_000;

/**
 * The account's import requests, one row each, written before the request is sent (write-ahead),
 * with the database's clock. Times are only ever compared with the database's own `now()`, so the
 * services' clocks, which differ, play no part.
 */
export class ImportRequestLogRepository implements ImportRequestRecorder {
  constructor(
    private readonly dataSource: DataSource,
    private readonly account: string,
  ) {}

  /** Records one request now, and prunes this account's records older than the keep time. */
  async record(): Promise<void> {
    // Invariant 6: durable before the request leaves; pruning rides along (a few rows a minute).
    await this.dataSource.query(
      `WITH pruned AS (
         DELETE FROM import_request_log WHERE account = $1 AND sent_at < now() - make_interval(secs => $2::float8 / 1000)
       )
       INSERT INTO import_request_log (account, sent_at) VALUES ($1, now())`,
      [this.account, IMPORT_REQUEST_LOG_KEEP_MS],
    );
  }

  /** Ages (ms, by the database's clock) of this account's requests recorded in the last `windowMs`, oldest first. */
  async agesWithin(windowMs: number): Promise<number[]> {
    const rows: Array<{ age_ms: number }> = await this.dataSource.query(
      `SELECT extract(epoch FROM now() - sent_at)::float8 * 1000 AS age_ms
         FROM import_request_log
        WHERE account = $1 AND sent_at > now() - make_interval(secs => $2::float8 / 1000)
        ORDER BY sent_at`,
      [this.account, windowMs],
    );
    return rows.map((row) => Number(row.age_ms));
  }
}
