import { fieldProblem } from './field-rules';
import type { RowError } from './row-error';

export type ImportRow = Record<string, unknown>;

/**
 * The checks of one row that need no stored contact: the import key is present and usable, and
 * every field is writable with a valid value. Returns every problem found (empty when valid).
 */
export function validateRow(importKey: string, row: ImportRow, index: number): RowError[] {
  const key = row[importKey];
  const keyValue = key === undefined ? null : key;
  if (key === undefined) return [{ index, key: null, field: importKey, reason: `the import key ${importKey} is missing` }];
  if (key === null) return [{ index, key: null, field: importKey, reason: 'the import key cannot be cleared' }];
  const keyProblem = fieldProblem(importKey, key);
  if (keyProblem) return [{ index, key: keyValue, field: importKey, reason: keyProblem }];
  const errors: RowError[] = [];
  for (const [field, value] of Object.entries(row)) {
    const problem = fieldProblem(field, value);
    if (problem) errors.push({ index, key: keyValue, field, reason: problem });
  }
  return errors;
}
