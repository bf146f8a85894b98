import type { DataSource } from 'typeorm';

export type ExportJobStatus = 'requested' | 'running' | 'downloading' | 'done' | 'failed' | 'expired';

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
  /** Rows staged from the file (malformed rows excluded). */
  rowsWritten: number;
  malformedRows: number;
  byteCount: number | null;
  sha256: string | null;
  /** Secret-ish (a signed URL): stored to download, never shown. */
  downloadUrl: string | null;
  expiresAt: Date | null;
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
  download_url: string | null;
  expires_at: Date | null;
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
  row_count, rows_written, malformed_rows, byte_count::text AS byte_count, sha256, download_url, expires_at, loaded_at,
  table_rows, table_done_at, topic_rows, topic_tombstones, topic_done_at, attempts, last_error`;

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
    downloadUrl: row.download_url,
    expiresAt: row.expires_at,
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
  downloadUrl: 'download_url',
  expiresAt: 'expires_at',
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

  /** Records a requested export; throws ExportAlreadyRunningError while another one runs. */
  async create(account: string, fields: string[] | null, target: string): Promise<ExportJob> {
    try {
      const rows: JobRow[] = await this.dataSource.query(
        `INSERT INTO export_job (account, status, fields, target) VALUES ($1, 'requested', $2, $3) RETURNING ${COLUMNS}`,
        [account, fields === null ? null : JSON.stringify(fields), target],
      );
      return toJob(rows[0]!);
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
      [id, ...entries.map(([, value]) => value)],
    );
    if (!rows[0]) throw new Error(`export job ${id} does not exist`);
    return toJob(rows[0]);
  }

  /**
   * Starts delivering a done job's file again: back to `downloading` with every step to redo.
   * Throws ExportAlreadyRunningError while another export runs.
   */
  async reopen(id: string, account: string): Promise<ExportJob> {
    try {
      return await this.update(id, {
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
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      throw new ExportAlreadyRunningError((await this.running(account))?.id);
    }
  }
}
