import type { DataSource, EntityManager } from 'typeorm';
import type { KeyType, StampedPatch } from '../profile';
import { fromStored, toStored, type StoredStampedPatch } from '../store/stored-patch';

/** `requeued`: the batch's contacts went back into pending_change (a split, or an older open batch folded back). */
export type ImportBatchStatus = 'claimed' | 'submitting' | 'submitted' | 'retrying' | 'done' | 'failed' | 'requeued';

export interface ImportBatch {
  id: string;
  account: string;
  keyType: KeyType;
  status: ImportBatchStatus;
  taskId: string | null;
  rows: number;
  /** Requests sent for this batch. */
  attempts: number;
  /** Tasks CAAC ran and reported failed: only these spend the batch's budget. */
  taskFailures: number;
  /** Requests that never became a task (429, 5xx, busy, unknown outcome, open breaker) since the last accepted one. */
  transportFailures: number;
  createdAt: Date;
  submittedAt: Date | null;
  finishedAt: Date | null;
  nextAttemptAt: Date | null;
  /** Milliseconds until `nextAttemptAt` by the database's clock when the batch was read, at least 0. */
  waitMs: number;
  totalNum: number | null;
  createdNum: number | null;
  updatedNum: number | null;
  failedNum: number | null;
  lastError: string | null;
}

export interface ImportItem {
  keyValue: string;
  fields: StampedPatch;
  /** Times this contact's row failed without naming a field (see ROW_FAILURE_MAX). */
  rowFailures?: number;
}

/**
 * The leadership under which a state change is decided: the account and the epoch its leader
 * drew when it took over (see ImportBatchRepository.beginEpoch).
 */
export interface Fence {
  account: string;
  epoch: string;
}

/**
 * A state change found the batch in another state than it expected, or was decided under a
 * leadership that has since passed to another instance: nothing was written.
 */
export class StaleTransitionError extends Error {
  readonly code = 'stale_transition';
  constructor(
    readonly batchId: string,
    readonly transition: string,
  ) {
    super(`import batch ${batchId}: ${transition} changed nothing (the batch moved on, or leadership passed to another instance)`);
    this.name = 'StaleTransitionError';
  }
}

/**
 * How an import is named to operators (admin routes, `cli status`) and in the imports_total metric:
 * the stored status, except that a `done` batch whose task left rows dead-lettered or sent again
 * (its `last_error` says how many) is `done_with_rejections`.
 */
export type ImportOutcome = ImportBatchStatus | 'done_with_rejections';
export const IMPORT_OUTCOMES: readonly ImportOutcome[] = ['claimed', 'submitting', 'submitted', 'retrying', 'done', 'done_with_rejections', 'failed', 'requeued'];

/** The batch's status as operators see it (see ImportOutcome). */
export function outcomeOf(batch: Pick<ImportBatch, 'status' | 'lastError'>): ImportOutcome {
  return batch.status === 'done' && batch.lastError !== null ? 'done_with_rejections' : batch.status;
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
  task_failures: number;
  transport_failures: number;
  created_at: Date;
  submitted_at: Date | null;
  finished_at: Date | null;
  next_attempt_at: Date | null;
  wait_ms: string | null;
  total_num: number | null;
  created_num: number | null;
  updated_num: number | null;
  failed_num: number | null;
  last_error: string | null;
}

// TRICKY: the wait until next_attempt_at is computed here, by the clock that wrote it; the
// service's clock may differ from the database's, and the wait would stretch by the difference.
const BATCH_COLUMNS = `id::text AS id, account, key_type, status, task_id, rows, attempts, task_failures, transport_failures,
  created_at, submitted_at, finished_at, next_attempt_at,
  greatest(0, ceil(extract(epoch FROM next_attempt_at - now()) * 1000))::bigint::text AS wait_ms,
  total_num, created_num, updated_num, failed_num, last_error`;

function toBatch(row: BatchRow): ImportBatch {
  return {
    id: row.id,
    account: row.account,
    keyType: row.key_type,
    status: row.status,
    taskId: row.task_id,
    rows: row.rows,
    attempts: row.attempts,
    taskFailures: row.task_failures,
    transportFailures: row.transport_failures,
    createdAt: row.created_at,
    submittedAt: row.submitted_at,
    finishedAt: row.finished_at,
    nextAttemptAt: row.next_attempt_at,
    waitMs: row.wait_ms === null ? 0 : Number(row.wait_ms),
    totalNum: row.total_num,
    createdNum: row.created_num,
    updatedNum: row.updated_num,
    failedNum: row.failed_num,
    lastError: row.last_error,
  };
}

/** The state a transition expects to find: the batch's status and, once it has one, its task. */
export interface Expected {
  status: ImportBatchStatus;
  taskId?: string | null;
}

export interface BatchResult {
  totalNum?: number;
  createdNum?: number;
  updatedNum?: number;
  failedNum?: number;
  error?: string | null;
}

/** What a failure to import spends: a failed task the batch's budget, transport trouble its own count. */
export type FailureKind = 'task' | 'transport' | 'none';

/**
 * Import batches and their state changes. TRICKY: every state change is conditional on the state
 * it expects (status and task id) and on the leadership epoch it was decided under, in one
 * statement, and throws StaleTransitionError when it changed no row; the caller then stops, and
 * writes nothing else of that decision (it runs in the same transaction, which rolls back). The
 * epoch row is read FOR SHARE, so a new leader's takeover waits for a write in progress and every
 * later write of the old leader sees the new epoch.
 */
export class ImportBatchRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Starts a leadership of the account: raises its epoch, so that from now on every state change
   * decided by an earlier leader changes nothing. Call only while holding the account's lock.
   */
  async beginEpoch(account: string): Promise<Fence> {
    const [row]: Array<{ epoch: string }> = await this.dataSource.query(
      `INSERT INTO importer_epoch AS e (account, epoch) VALUES ($1, 1)
       ON CONFLICT (account) DO UPDATE SET epoch = e.epoch + 1, started_at = now()
       RETURNING epoch::text AS epoch`,
      [account],
    );
    return { account, epoch: row!.epoch };
  }

  /** True while no later leader has taken over the account. */
  async holdsEpoch(fence: Fence): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM importer_epoch WHERE account = $1 AND epoch = $2`, [fence.account, fence.epoch]);
    return rows.length > 0;
  }

  /** A new claimed batch and its items; the unique index refuses it while another batch of the account is open. */
  async create(db: EntityManager, fence: Fence, keyType: KeyType, items: ImportItem[]): Promise<ImportBatch> {
    const [row]: BatchRow[] = await db.query(
      `WITH fence AS (SELECT 1 FROM importer_epoch WHERE account = $1 AND epoch = $4 FOR SHARE),
            created AS (
              INSERT INTO import_batch (account, key_type, status, rows)
              SELECT $1, $2, 'claimed', $3 WHERE EXISTS (SELECT 1 FROM fence)
              RETURNING *)
       SELECT ${BATCH_COLUMNS} FROM created`,
      [fence.account, keyType, items.length, fence.epoch],
    );
    if (!row) throw new StaleTransitionError('(new)', 'claim');
    await db.query(
      `INSERT INTO import_batch_item (batch_id, key_value, fields, row_failures)
       SELECT $1, r.k, r.f, r.n FROM jsonb_to_recordset($2::jsonb) AS r(k text, f jsonb, n integer)`,
      [row.id, JSON.stringify(items.map((item) => ({ k: item.keyValue, f: toStored(item.fields), n: item.rowFailures ?? 0 })))],
    );
    return toBatch(row);
  }

  async items(batchId: string, db: EntityManager = this.dataSource.manager): Promise<ImportItem[]> {
    const rows: Array<{ key_value: string; fields: StoredStampedPatch; row_failures: number }> = await db.query(
      `SELECT key_value, fields, row_failures FROM import_batch_item WHERE batch_id = $1 ORDER BY key_value`,
      [batchId],
    );
    return rows.map((row) => ({ keyValue: row.key_value, fields: fromStored(row.fields), rowFailures: row.row_failures }));
  }

  /**
   * The account's open batches, the one in flight first (the schema allows one; a database from
   * before that index is folded to one by its migration).
   */
  async open(account: string): Promise<ImportBatch[]> {
    const rows: BatchRow[] = await this.dataSource.query(
      `SELECT ${BATCH_COLUMNS} FROM import_batch WHERE account = $1 AND status = ANY($2::text[])
        ORDER BY (status IN ('submitted', 'submitting')) DESC, id`,
      [account, OPEN_STATUSES],
    );
    return rows.map(toBatch);
  }

  async find(id: string): Promise<ImportBatch | undefined> {
    const rows: BatchRow[] = await this.dataSource.query(`SELECT ${BATCH_COLUMNS} FROM import_batch WHERE id = $1`, [id]);
    return rows[0] ? toBatch(rows[0]) : undefined;
  }

  async list(filter: { account: string; status?: ImportOutcome; limit: number; beforeId?: string }): Promise<ImportBatch[]> {
    // done and done_with_rejections are both stored as done, told apart by last_error (see ImportOutcome).
    const stored = filter.status === 'done_with_rejections' ? 'done' : (filter.status ?? null);
    const rejections = filter.status === 'done_with_rejections' ? true : filter.status === 'done' ? false : null;
    const rows: BatchRow[] = await this.dataSource.query(
      `SELECT ${BATCH_COLUMNS} FROM import_batch
        WHERE account = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3)
          AND ($5::boolean IS NULL OR (last_error IS NOT NULL) = $5)
        ORDER BY id DESC LIMIT $4`,
      [filter.account, stored, filter.beforeId ?? null, filter.limit, rejections],
    );
    return rows.map(toBatch);
  }

  /** Milliseconds since the batch was last sent, by the database's clock (the task deadline's measure). */
  async sinceSubmittedMs(id: string): Promise<number> {
    const [row]: Array<{ ms: string | null }> = await this.dataSource.query(
      `SELECT (extract(epoch FROM now() - submitted_at) * 1000)::bigint::text AS ms FROM import_batch WHERE id = $1`,
      [id],
    );
    return row?.ms == null ? 0 : Number(row.ms);
  }

  /** About to send: counts the request; the outcome stays unknown until markSubmitted. */
  async markSubmitting(fence: Fence, id: string, from: Expected): Promise<void> {
    await this.transition(this.dataSource.manager, fence, id, from, 'submit', `status = 'submitting', attempts = attempts + 1, submitted_at = now(), next_attempt_at = NULL`);
  }

  /** CAAC accepted the batch as `taskId`: the transport trouble of this batch is over. */
  async markSubmitted(fence: Fence, id: string, taskId: string): Promise<void> {
    await this.transition(this.dataSource.manager, fence, id, { status: 'submitting' }, 'accept', `status = 'submitted', task_id = $6, transport_failures = 0, last_error = NULL`, [taskId]);
  }

  /** To be sent again after `delayMs` (by the database's clock), counting the failure as `kind`. */
  async markRetrying(db: EntityManager, fence: Fence, id: string, from: Expected, retry: { delayMs: number; error: string; kind: FailureKind }): Promise<void> {
    const counted =
      retry.kind === 'task' ? ', task_failures = task_failures + 1' : retry.kind === 'transport' ? ', transport_failures = transport_failures + 1' : '';
    await this.transition(
      db,
      fence,
      id,
      from,
      `retry (${retry.kind})`,
      `status = 'retrying', task_id = NULL, next_attempt_at = now() + make_interval(secs => $6::double precision / 1000), last_error = $7${counted}`,
      [Math.max(0, retry.delayMs), retry.error],
    );
  }

  /**
   * Keeps only the named contacts in the batch (the others are the caller's to put back into
   * pending, in the same transaction). The batch must be in the state `from`.
   */
  async shrink(db: EntityManager, fence: Fence, id: string, from: Expected, keep: string[]): Promise<void> {
    await this.transition(db, fence, id, from, 'shrink', `rows = $6`, [keep.length]);
    await db.query(`DELETE FROM import_batch_item WHERE batch_id = $1 AND NOT (key_value = ANY($2::text[]))`, [id, keep]);
  }

  async markEnded(db: EntityManager, fence: Fence, id: string, from: Expected, status: 'done' | 'failed', result: BatchResult): Promise<void> {
    await this.transition(
      db,
      fence,
      id,
      from,
      status,
      `status = $6, finished_at = now(), total_num = $7, created_num = $8, updated_num = $9, failed_num = $10, last_error = $11, next_attempt_at = NULL`,
      [status, result.totalNum ?? null, result.createdNum ?? null, result.updatedNum ?? null, result.failedNum ?? null, result.error ?? null],
    );
    // A successful batch's items are recorded in contact_state; a failed one keeps them for retry.
    if (status === 'done') await db.query(`DELETE FROM import_batch_item WHERE batch_id = $1`, [id]);
  }

  /**
   * One conditional state change: `set` applies only to the batch in state `from`, under the
   * epoch of `fence`. Parameters $1-$5 are taken; `set` uses $6 on.
   */
  private async transition(db: EntityManager, fence: Fence, id: string, from: Expected, name: string, set: string, params: unknown[] = []): Promise<void> {
    const rows: unknown[] = await db.query(
      // (A CTE, so the driver hands back the updated rows rather than a count.)
      `WITH fence AS (SELECT 1 FROM importer_epoch WHERE account = $4 AND epoch = $5 FOR SHARE),
            moved AS (
              UPDATE import_batch SET ${set}
               WHERE id = $1 AND status = $2 AND ($3::text IS NULL OR task_id = $3) AND account = $4
                 AND EXISTS (SELECT 1 FROM fence)
              RETURNING id)
       SELECT id FROM moved`,
      [id, from.status, from.taskId ?? null, fence.account, fence.epoch, ...params],
    );
    if (rows.length === 0) throw new StaleTransitionError(id, name);
  }
}
