import type { DataSource } from 'typeorm';

export type ExportJobStatus = 'requested' | 'running' | 'downloading' | 'held' | 'done' | 'failed' | 'expired' | 'superseded';

/** A job in one of these is the account's one running export (unique index export_job_one_running). */
export const RUNNING_STATUSES: readonly ExportJobStatus[] = ['requested', 'running', 'downloading'];

export interface ExportJob {
  id: string;
  account: string;
  taskId: string | null;
  status: ExportJobStatus;
  fields: string[] | null;
  /** The sinks it delivers to, e.g. `table+topic`. */
  target: string;
  requestedAt: Date;
  startedAt: Date | null;
  updatedAt: Date;
  finishedAt: Date | null;
  rowCount: number | null;
  /** Rows staged from the file (refused rows excluded). */
  rowsWritten: number;
  /** Rows refused (dead-lettered; each keeps its contact's previous row). */
  malformedRows: number;
  byteCount: number | null;
  sha256: string | null;
  /** The file's header, contact_id first. */
  columns: string[] | null;
  expiresAt: Date | null;
  /** Refused rows whose contact kept its previous row in the mirror. */
  keptOnRefusal: number | null;
  /** Contacts the export deletes from the mirror (the larger of table and topic), once measured. */
  deletions: number | null;
  /** Why the export waits as `held`. */
  heldReason: string | null;
  deletionsAllowedAt: Date | null;
  /** When it first delivered everything; a failed redelivery returns it to `done`. */
  deliveredAt: Date | null;
  loadedAt: Date | null;
  tableRows: number | null;
  tableDoneAt: Date | null;
  topicRows: number | null;
  topicTombstones: number | null;
  topicDoneAt: Date | null;
  attempts: number;
  lastError: string | null;
}

interface JobRow {
  id: string;
  account: string;
  task_id: string | null;
  status: ExportJobStatus;
  fields: string[] | null;
  target: string;
  requested_at: Date;
  started_at: Date | null;
  updated_at: Date;
  finished_at: Date | null;
  row_count: number | null;
  rows_written: number;
  malformed_rows: number;
  byte_count: string | null;
  sha256: string | null;
  columns: string[] | null;
  expires_at: Date | null;
  kept_on_refusal: number | null;
  deletions: number | null;
  held_reason: string | null;
  deletions_allowed_at: Date | null;
  delivered_at: Date | null;
  loaded_at: Date | null;
  table_rows: number | null;
  table_done_at: Date | null;
  topic_rows: number | null;
  topic_tombstones: number | null;
  topic_done_at: Date | null;
  attempts: number;
  last_error: string | null;
}

const COLUMNS = `id::text AS id, account, task_id, status, fields, target, requested_at, started_at, updated_at, finished_at,
  row_count, rows_written, malformed_rows, byte_count::text AS byte_count, sha256, columns, expires_at, loaded_at,
  table_rows, table_done_at, topic_rows, topic_tombstones, topic_done_at, attempts, last_error,
  kept_on_refusal, deletions, held_reason, deletions_allowed_at, delivered_at`;

function toJob(row: JobRow): ExportJob {
  return {
    id: row.id,
    account: row.account,
    taskId: row.task_id,
    status: row.status,
    fields: row.fields,
    target: row.target,
    requestedAt: row.requested_at,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    rowCount: row.row_count,
    rowsWritten: row.rows_written,
    malformedRows: row.malformed_rows,
    byteCount: row.byte_count === null ? null : Number(row.byte_count),
    sha256: row.sha256,
    columns: row.columns,
    expiresAt: row.expires_at,
    keptOnRefusal: row.kept_on_refusal,
    deletions: row.deletions,
    heldReason: row.held_reason,
    deletionsAllowedAt: row.deletions_allowed_at,
    deliveredAt: row.delivered_at,
    loadedAt: row.loaded_at,
    tableRows: row.table_rows,
    tableDoneAt: row.table_done_at,
    topicRows: row.topic_rows,
    topicTombstones: row.topic_tombstones,
    topicDoneAt: row.topic_done_at,
    attempts: row.attempts,
    lastError: row.last_error,
  };
}

/** Another export of the account is running: the unique index refused a second one. */
export class ExportAlreadyRunningError extends Error {
  readonly code = 'export_running';
  constructor(readonly runningId: string | undefined) {
    super(`an export is already running${runningId ? ` (job ${runningId})` : ''}; wait for it to end`);
    this.name = 'ExportAlreadyRunningError';
  }
}

/** The job is no longer in the status the request was made for (another request moved it first). */
export class ExportStateError extends Error {
  readonly code = 'export_state_changed';
  constructor(id: string, expected: string) {
    super(`export ${id} is no longer ${expected}`);
    this.name = 'ExportStateError';
  }
}

const UNIQUE_VIOLATION = '23505';

/** A job's progress fields, as the runner records them step by step. */
export type ExportJobUpdate = Partial<Omit<ExportJob, 'id' | 'account' | 'fields' | 'target' | 'requestedAt' | 'updatedAt'>>;

const UPDATE_COLUMNS: Record<keyof ExportJobUpdate, string> = {
  status: 'status',
  taskId: 'task_id',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  rowCount: 'row_count',
  rowsWritten: 'rows_written',
  malformedRows: 'malformed_rows',
  byteCount: 'byte_count',
  sha256: 'sha256',
  columns: 'columns',
  expiresAt: 'expires_at',
  keptOnRefusal: 'kept_on_refusal',
  deletions: 'deletions',
  heldReason: 'held_reason',
  deletionsAllowedAt: 'deletions_allowed_at',
  deliveredAt: 'delivered_at',
  loadedAt: 'loaded_at',
  tableRows: 'table_rows',
  tableDoneAt: 'table_done_at',
  topicRows: 'topic_rows',
  topicTombstones: 'topic_tombstones',
  topicDoneAt: 'topic_done_at',
  attempts: 'attempts',
  lastError: 'last_error',
};

/** Export jobs in the service's database: one row per export, its status and progress. */
export class ExportJobRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Records a requested export; throws ExportAlreadyRunningError while another one runs. A held
   * export is ended as `superseded` in the same transaction: the newer file replaces its question.
   * Returns the new job and the id of the job it superseded, if any.
   */
  async create(account: string, fields: string[] | null, target: string): Promise<{ job: ExportJob; superseded: string | undefined }> {
    try {
      return await this.dataSource.transaction(async (db) => {
        const rows: JobRow[] = await db.query(
          `INSERT INTO export_job (account, status, fields, target) VALUES ($1, 'requested', $2, $3) RETURNING ${COLUMNS}`,
          [account, fields === null ? null : JSON.stringify(fields), target],
        );
        const job = toJob(rows[0]!);
        const [held]: [Array<{ id: string }>, number] = await db.query(
          `UPDATE export_job SET status = 'superseded', finished_at = now(), updated_at = now(),
                  last_error = 'superseded by export ' || $2 || ' before its deletions were allowed'
            WHERE account = $1 AND status = 'held' RETURNING id::text AS id`,
          [account, job.id],
        );
        return { job, superseded: held[0]?.id };
      });
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      throw new ExportAlreadyRunningError((await this.running(account))?.id);
    }
  }

  async find(id: string): Promise<ExportJob | undefined> {
    const rows: JobRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM export_job WHERE id = $1`, [id]);
    return rows[0] && toJob(rows[0]);
  }

  /** The account's running export, if any. */
  async running(account: string): Promise<ExportJob | undefined> {
    const rows: JobRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM export_job WHERE account = $1 AND status = ANY($2::text[]) ORDER BY id LIMIT 1`,
      [account, RUNNING_STATUSES],
    );
    return rows[0] && toJob(rows[0]);
  }

  /** The account's held export, if any. */
  async held(account: string): Promise<ExportJob | undefined> {
    const rows: JobRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM export_job WHERE account = $1 AND status = 'held'`, [account]);
    return rows[0] && toJob(rows[0]);
  }

  /** The account's jobs, newest first. */
  async list(account: string, limit: number): Promise<ExportJob[]> {
    const rows: JobRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM export_job WHERE account = $1 ORDER BY id DESC LIMIT $2`, [account, limit]);
    return rows.map(toJob);
  }

  /** The newest job that delivered everything, for the age metric and health. */
  async newestDone(account: string): Promise<ExportJob | undefined> {
    const rows: JobRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM export_job WHERE account = $1 AND status = 'done' ORDER BY requested_at DESC LIMIT 1`, [
      account,
    ]);
    return rows[0] && toJob(rows[0]);
  }

  async update(id: string, change: ExportJobUpdate): Promise<ExportJob> {
    const entries = Object.entries(change) as Array<[keyof ExportJobUpdate, unknown]>;
    const sets = entries.map(([key], index) => `${UPDATE_COLUMNS[key]} = $${index + 2}`);
    // TRICKY: TypeORM answers an UPDATE with [rows, affected count], not with the rows alone.
    const [rows]: [JobRow[], number] = await this.dataSource.query(
      `UPDATE export_job SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`,
      // TRICKY: node-postgres sends an array as a Postgres array; the jsonb column wants JSON text.
      [id, ...entries.map(([key, value]) => (key === 'columns' && value !== null ? JSON.stringify(value) : value))],
    );
    if (!rows[0]) throw new Error(`export job ${id} does not exist`);
    return toJob(rows[0]);
  }

  /**
   * Starts delivering a done job's file again: back to `downloading` with every step to redo.
   * Throws ExportAlreadyRunningError while another export runs.
   */
  async reopen(id: string, account: string): Promise<ExportJob> {
    return this.resume(id, account, 'done', {
      status: 'downloading',
      finishedAt: null,
      loadedAt: null,
      tableDoneAt: null,
      topicDoneAt: null,
      rowsWritten: 0,
      malformedRows: 0,
      attempts: 0,
      lastError: null,
    });
  }

  /**
   * Takes a failed job up again from the step it failed at: the file is asked for again when it
   * had one, else the task is polled again, else requested. Throws ExportAlreadyRunningError
   * while another export runs.
   */
  async retry(job: ExportJob, account: string): Promise<ExportJob> {
    const status: ExportJobStatus = job.expiresAt !== null ? 'downloading' : job.taskId !== null ? 'running' : 'requested';
    return this.resume(job.id, account, 'failed', { status, finishedAt: null, attempts: 0, lastError: null });
  }

  /** Lets a held job go on with its deletions. Throws ExportAlreadyRunningError while another export runs. */
  async allowDeletions(id: string, account: string, at: Date): Promise<ExportJob> {
    return this.resume(id, account, 'held', { status: 'downloading', deletionsAllowedAt: at, heldReason: null });
  }

  /**
   * Applies `change` to a job that is still in `from` (undefined when it no longer is: another
   * request moved it first), refusing with ExportAlreadyRunningError while another export runs.
   */
  private async resume(id: string, account: string, from: ExportJobStatus, change: ExportJobUpdate): Promise<ExportJob> {
    const entries = Object.entries(change) as Array<[keyof ExportJobUpdate, unknown]>;
    const sets = entries.map(([key], index) => `${UPDATE_COLUMNS[key]} = $${index + 3}`);
    try {
      const [rows]: [JobRow[], number] = await this.dataSource.query(
        `UPDATE export_job SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1 AND status = $2 RETURNING ${COLUMNS}`,
        [id, from, ...entries.map(([, value]) => value)],
      );
      if (!rows[0]) throw new ExportStateError(id, from);
      return toJob(rows[0]);
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      throw new ExportAlreadyRunningError((await this.running(account))?.id);
    }
  }
}
