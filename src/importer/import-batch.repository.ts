import type { DataSource, EntityManager } from 'typeorm';
import type { KeyType, StampedPatch } from '../profile';
import { fromStored, toStored, type StoredStampedPatch } from '../store/stored-patch';

export type ImportBatchStatus = 'claimed' | 'submitting' | 'submitted' | 'retrying' | 'done' | 'failed';

export interface ImportBatch {
  id: string;
  account: string;
  keyType: KeyType;
  status: ImportBatchStatus;
  taskId: string | null;
  rows: number;
  attempts: number;
  createdAt: Date;
  submittedAt: Date | null;
  finishedAt: Date | null;
  nextAttemptAt: Date | null;
  totalNum: number | null;
  createdNum: number | null;
  updatedNum: number | null;
  failedNum: number | null;
  lastError: string | null;
}

export interface ImportItem {
  keyValue: string;
  fields: StampedPatch;
}

/** Batches that still need work: claimed, waiting to be sent again, or sent and not yet ended. */
export const OPEN_STATUSES: readonly ImportBatchStatus[] = ['claimed', 'submitting', 'submitted', 'retrying'];

interface BatchRow {
  id: string;
  account: string;
  key_type: KeyType;
  status: ImportBatchStatus;
  task_id: string | null;
  rows: number;
  attempts: number;
  created_at: Date;
  submitted_at: Date | null;
  finished_at: Date | null;
  next_attempt_at: Date | null;
  total_num: number | null;
  created_num: number | null;
  updated_num: number | null;
  failed_num: number | null;
  last_error: string | null;
}

const BATCH_COLUMNS = `id::text AS id, account, key_type, status, task_id, rows, attempts, created_at, submitted_at,
  finished_at, next_attempt_at, total_num, created_num, updated_num, failed_num, last_error`;

function toBatch(row: BatchRow): ImportBatch {
  return {
    id: row.id,
    account: row.account,
    keyType: row.key_type,
    status: row.status,
    taskId: row.task_id,
    rows: row.rows,
    attempts: row.attempts,
    createdAt: row.created_at,
    submittedAt: row.submitted_at,
    finishedAt: row.finished_at,
    nextAttemptAt: row.next_attempt_at,
    totalNum: row.total_num,
    createdNum: row.created_num,
    updatedNum: row.updated_num,
    failedNum: row.failed_num,
    lastError: row.last_error,
  };
}

export class ImportBatchRepository {
  constructor(private readonly dataSource: DataSource) {}

  async create(db: EntityManager, account: string, keyType: KeyType, items: ImportItem[]): Promise<ImportBatch> {
    const [row]: BatchRow[] = await db.query(
      `INSERT INTO import_batch (account, key_type, status, rows) VALUES ($1, $2, 'claimed', $3) RETURNING ${BATCH_COLUMNS}`,
      [account, keyType, items.length],
    );
    await db.query(
      `INSERT INTO import_batch_item (batch_id, key_value, fields)
       SELECT $1, r.k, r.f FROM jsonb_to_recordset($2::jsonb) AS r(k text, f jsonb)`,
      [row!.id, JSON.stringify(items.map((item) => ({ k: item.keyValue, f: toStored(item.fields) })))],
    );
    return toBatch(row!);
  }

  async items(batchId: string): Promise<ImportItem[]> {
    const rows: Array<{ key_value: string; fields: StoredStampedPatch }> = await this.dataSource.query(
      `SELECT key_value, fields FROM import_batch_item WHERE batch_id = $1 ORDER BY key_value`,
      [batchId],
    );
    return rows.map((row) => ({ keyValue: row.key_value, fields: fromStored(row.fields) }));
  }

  /** The account's open batches, oldest first (at most one in practice: imports go one at a time). */
  async open(account: string): Promise<ImportBatch[]> {
    const rows: BatchRow[] = await this.dataSource.query(
      `SELECT ${BATCH_COLUMNS} FROM import_batch WHERE account = $1 AND status = ANY($2::text[]) ORDER BY id`,
      [account, OPEN_STATUSES],
    );
    return rows.map(toBatch);
  }

  async find(id: string): Promise<ImportBatch | undefined> {
    const rows: BatchRow[] = await this.dataSource.query(`SELECT ${BATCH_COLUMNS} FROM import_batch WHERE id = $1`, [id]);
    return rows[0] ? toBatch(rows[0]) : undefined;
  }

  async list(filter: { account: string; status?: ImportBatchStatus; limit: number; beforeId?: string }): Promise<ImportBatch[]> {
    const rows: BatchRow[] = await this.dataSource.query(
      `SELECT ${BATCH_COLUMNS} FROM import_batch
        WHERE account = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3)
        ORDER BY id DESC LIMIT $4`,
      [filter.account, filter.status ?? null, filter.beforeId ?? null, filter.limit],
    );
    return rows.map(toBatch);
  }

  /** Invariant 6 in the schema: the partial unique index refuses a second batch in flight. */
  async markSubmitting(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE import_batch SET status = 'submitting', attempts = attempts + 1, submitted_at = now(), next_attempt_at = NULL
        WHERE id = $1`,
      [id],
    );
  }

  async markSubmitted(id: string, taskId: string): Promise<void> {
    await this.dataSource.query(`UPDATE import_batch SET status = 'submitted', task_id = $2, last_error = NULL WHERE id = $1`, [
      id,
      taskId,
    ]);
  }

  async markRetrying(id: string, delayMs: number, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE import_batch SET status = 'retrying', task_id = NULL,
              next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), last_error = $3
        WHERE id = $1`,
      [id, delayMs, error],
    );
  }

  async markEnded(
    db: EntityManager,
    id: string,
    status: 'done' | 'failed',
    result: { totalNum?: number; createdNum?: number; updatedNum?: number; failedNum?: number; error?: string | null },
  ): Promise<void> {
    await db.query(
      `UPDATE import_batch SET status = $2, finished_at = now(), total_num = $3, created_num = $4, updated_num = $5,
              failed_num = $6, last_error = $7, next_attempt_at = NULL
        WHERE id = $1`,
      [id, status, result.totalNum ?? null, result.createdNum ?? null, result.updatedNum ?? null, result.failedNum ?? null, result.error ?? null],
    );
    // A successful batch's items are recorded in contact_state; a failed one keeps them for retry.
    if (status === 'done') await db.query(`DELETE FROM import_batch_item WHERE batch_id = $1`, [id]);
  }
}
