import type { KeyType } from '../profile';

/** The key field an import matches contacts on (DESIGN §4.2). */
export type ImportKey = KeyType;

/** A row of an import: the key field and the fields to set; custom fields flat as `cl_custom_*`. */
export type ImportRow = Record<string, string | number | boolean | null>;

export type TaskStatus = 'pending' | 'processing' | 'done';

export interface ImportRowError {
  index: number;
  key?: string;
  field?: string;
  reason: string;
}

export interface ImportTaskResult {
  success: boolean;
  totalNum?: number;
  createdNum?: number;
  updatedNum?: number;
  failedNum?: number;
  /** Absent when the API reports only counts. */
  errors?: ImportRowError[];
}

/** `GET /cdh/v1/member/import/{task_id}`. `result` is present once `status` is `done`. */
export interface ImportTask {
  taskId: string;
  status: TaskStatus;
  createdAt?: string;
  updatedAt?: string;
  result?: ImportTaskResult;
}

export interface ExportResult {
  rowCount: number;
  downloadUrl: string;
  /** ISO-8601; the download answers 410 after it. */
  expiresAt: string;
}

/** `GET /cdh/v1/member/export/{task_id}` and the items of the export list. */
export interface ExportTask {
  taskId: string;
  status: TaskStatus;
  createdAt?: string;
  updatedAt?: string;
  result?: ExportResult;
}

/** The client's endpoints, as low-cardinality names for metrics and logs. */
export type CaacEndpoint = 'import' | 'import_status' | 'export' | 'export_status' | 'export_list' | 'download';
