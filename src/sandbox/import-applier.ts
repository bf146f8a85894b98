import type { ChangeTime, ContactStore } from './contact-store';
import type { KeyField } from './field-rules';
import type { RowError } from './row-error';
import { validateRow, type ImportRow } from './row-validation';
import type { ImportResult, ImportTask } from './sandbox-task';

export const TASK_FAILURE_REASON = 'internal error';

/**
 * Applies an accepted import to the store, row by row in order: a row that fails (a fault's row
 * rule, a field rule, a key held by another contact, too many custom fields) changes nothing and
 * is reported; the others apply. A task failed as a whole applies nothing.
 */
export function applyImport(store: ContactStore, task: ImportTask, when?: ChangeTime): ImportResult {
  const data = task.data ?? [];
  const keyOf = (row: ImportRow) => row[task.importKey] ?? null;
  if (task.failure) {
    return {
      success: false,
      total_num: data.length,
      created_num: 0,
      updated_num: 0,
      failed_num: data.length,
      ...(task.failure.withErrors
        ? { errors: data.map((row, index) => ({ index, key: keyOf(row), field: null, reason: TASK_FAILURE_REASON })) }
        : {}),
    };
  }
  const errors: RowError[] = [];
  let created = 0;
  let updated = 0;
  let failed = 0;
  data.forEach((row, index) => {
    const rule = task.rowRule(row);
    const rowErrors = rule ? [{ index, key: keyOf(row), field: rule.field, reason: rule.reason }] : validateRow(task.importKey, row, index);
    if (rowErrors.length === 0) {
      const outcome = store.upsert(task.importKey as KeyField, row, index, when);
      if ('error' in outcome) rowErrors.push(outcome.error);
      else if (outcome.created) created++;
      else updated++;
    }
    if (rowErrors.length > 0) {
      failed++;
      errors.push(...rowErrors);
    }
  });
  return {
    success: failed === 0,
    total_num: data.length,
    created_num: created,
    updated_num: updated,
    failed_num: failed,
    ...(errors.length > 0 ? { errors } : {}),
  };
}
