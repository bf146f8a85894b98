import type { KeyType } from '../profile';

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

export interface ImportTask {
  taskId: string;
  status: TaskStatus;
  createdAt?: string;
  updatedAt?: string;
  result?: ImportTaskResult;
}

export interface ExportTask {
  taskId: string;
  status: TaskStatus;
  createdAt?: string;
  updatedAt?: string;
  result?: { rowCount: number; downloadUrl: string; expiresAt: string };
}

export type ImportKey = KeyType;
