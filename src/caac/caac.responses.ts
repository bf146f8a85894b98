import { z } from 'zod';
import type { ExportTask, ImportTask } from './caac.types';

// The answers of DESIGN §4.2. Only what the service relies on is checked; extra fields are
// tolerated (and dropped), so a richer API version does not break the client.

const taskId = z.string().min(1);
const status = z.enum(['pending', 'processing', 'done']);
const count = z.number().int().nonnegative().optional();
const time = z.string().optional().catch(undefined);

export const acceptedSchema = z.object({ task_id: taskId });

const rowErrorSchema = z.object({
  index: z.number().int().nonnegative(),
  // null when the row had no usable key (the sandbox, like FastAPI, says so rather than omit it)
  key: z.union([z.string(), z.number()]).optional().nullable(),
  field: z.string().optional().nullable(),
  reason: z.string().optional().nullable(),
});

const importResultSchema = z.object({
  success: z.boolean(),
  total_num: count,
  created_num: count,
  updated_num: count,
  failed_num: count,
  // Row errors are detail: one of an unexpected shape is dropped, never the whole task status.
  errors: z
    .array(z.unknown())
    .optional()
    .nullable()
    .transform((items) => items?.flatMap((item) => {
      const parsed = rowErrorSchema.safeParse(item);
      return parsed.success ? [parsed.data] : [];
    })),
});

const importTaskSchema = z.object({ task_id: taskId, status, created_at: time, updated_at: time, result: importResultSchema.optional().nullable() });

const exportResultSchema = z.object({
  row_count: z.number().int().nonnegative(),
  download_url: z.string().url(),
  expires_at: z.string().min(1),
});

const exportTaskSchema = z.object({ task_id: taskId, status, created_at: time, updated_at: time, result: exportResultSchema.optional().nullable() });

const exportListSchema = z.object({ exports: z.array(exportTaskSchema) });

/** The first problem of a failed parse, as `path: message`, for an error message. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'unexpected shape';
  return `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

function parsed<I, T>(schema: z.ZodType<I>, body: unknown, map: (input: I) => T): Parsed<T> {
  const result = schema.safeParse(body);
  return result.success ? { ok: true, value: map(result.data) } : { ok: false, problem: firstIssue(result.error) };
}

export function parseAccepted(body: unknown): Parsed<{ taskId: string }> {
  return parsed(acceptedSchema, body, (b) => ({ taskId: b.task_id }));
}

export function parseImportTask(body: unknown): Parsed<ImportTask> {
  return parsed(importTaskSchema, body, toImportTask);
}

export function parseExportTask(body: unknown): Parsed<ExportTask> {
  return parsed(exportTaskSchema, body, toExportTask);
}

export function parseExportList(body: unknown): Parsed<ExportTask[]> {
  return parsed(exportListSchema, body, (b) => b.exports.map(toExportTask));
}

function toImportTask(b: z.infer<typeof importTaskSchema>): ImportTask {
  const r = b.result;
  return {
    taskId: b.task_id,
    status: b.status,
    ...(b.created_at !== undefined ? { createdAt: b.created_at } : {}),
    ...(b.updated_at !== undefined ? { updatedAt: b.updated_at } : {}),
    ...(r
      ? {
          result: {
            success: r.success,
            ...(r.total_num !== undefined ? { totalNum: r.total_num } : {}),
            ...(r.created_num !== undefined ? { createdNum: r.created_num } : {}),
            ...(r.updated_num !== undefined ? { updatedNum: r.updated_num } : {}),
            ...(r.failed_num !== undefined ? { failedNum: r.failed_num } : {}),
            ...(r.errors
              ? {
                  errors: r.errors.map((e) => ({
                    index: e.index,
                    ...(e.key !== undefined && e.key !== null ? { key: String(e.key) } : {}),
                    ...(typeof e.field === 'string' ? { field: e.field } : {}),
                    reason: e.reason ?? 'rejected',
                  })),
                }
              : {}),
          },
        }
      : {}),
  };
}

function toExportTask(b: z.infer<typeof exportTaskSchema>): ExportTask {
  return {
    taskId: b.task_id,
    status: b.status,
    ...(b.created_at !== undefined ? { createdAt: b.created_at } : {}),
    ...(b.updated_at !== undefined ? { updatedAt: b.updated_at } : {}),
    ...(b.result ? { result: { rowCount: b.result.row_count, downloadUrl: b.result.download_url, expiresAt: b.result.expires_at } } : {}),
  };
}
