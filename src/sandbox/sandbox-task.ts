import type { RowError } from './row-error';
import type { RowRule } from './fault-injector';
import type { ImportRow } from './row-validation';

export type TaskKind = 'import' | 'export';
export type TaskStatus = 'pending' | 'processing' | 'done';

interface TaskCommon {
  id: string;
  account: number;
  rows: number;
  acceptedAt: number;
  startedAt: number;
  finishedAt: number;
  done: boolean;
  success: boolean | null;
}

export interface ImportResult {
  success: boolean;
  total_num: number;
  created_num: number;
  updated_num: number;
  failed_num: number;
  errors?: RowError[];
}

export interface ImportTask extends TaskCommon {
  kind: 'import';
  importKey: string;
  data: ImportRow[] | undefined; // dropped once applied
  failure: { withErrors: boolean } | undefined;
  rowRule: (row: ImportRow) => RowRule | undefined;
  result?: ImportResult;
}

export interface ExportResult {
  row_count: number;
  download_url: string;
  expires_at: string;
}

export interface ExportTask extends TaskCommon {
  kind: 'export';
  fields: string[] | undefined;
  /** The export shows the contacts as they were at this time: accepted minus SANDBOX_EXPORT_LAG_MS. */
  cutoff: number;
  result?: ExportResult;
  /** The file's columns after contact_id, fixed when the task is done; rows are read at download. */
  columns?: string[];
  signature?: string;
  expiresAt?: number;
}

export type SandboxTask = ImportTask | ExportTask;
