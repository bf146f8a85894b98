import { KEY_FIELDS, isKeyField, type KeyField } from './field-rules';
import type { ValidationIssue } from './http-error';
import { EMPTY_BODY } from './json-body';
import type { ImportRow } from './row-validation';

const MAX_ROW_ISSUES = 10; // enough to fix a request; a 10,000-row list would bury the point

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The shape of `POST /cdh/v1/member/import`: `{"import_key": <key field>, "data": [{...}, ...]}`. */
export function parseImportBody(body: unknown, maxRows: number): { importKey: KeyField; data: ImportRow[] } | { issues: ValidationIssue[] } {
  if (body === EMPTY_BODY) return { issues: [{ loc: ['body'], msg: 'a JSON object {"import_key", "data"} is required', type: 'missing' }] };
  if (!isObject(body)) return { issues: [{ loc: ['body'], msg: 'must be a JSON object', type: 'type_error' }] };
  const issues: ValidationIssue[] = [];
  const { import_key: importKey, data } = body;
  if (importKey === undefined) issues.push({ loc: ['body', 'import_key'], msg: 'field required', type: 'missing' });
  else if (typeof importKey !== 'string' || !isKeyField(importKey)) {
    issues.push({ loc: ['body', 'import_key'], msg: `must be one of ${KEY_FIELDS.join(', ')}`, type: 'value_error' });
  }
  if (data === undefined) issues.push({ loc: ['body', 'data'], msg: 'field required', type: 'missing' });
  else if (!Array.isArray(data)) issues.push({ loc: ['body', 'data'], msg: 'must be an array of objects', type: 'type_error' });
  else if (data.length === 0) issues.push({ loc: ['body', 'data'], msg: 'must hold at least 1 row', type: 'value_error' });
  else if (data.length > maxRows) {
    issues.push({ loc: ['body', 'data'], msg: `at most ${maxRows} rows per import, got ${data.length}`, type: 'value_error' });
  } else {
    const notObjects = data.map((row: unknown, index) => (isObject(row) ? -1 : index)).filter((index) => index >= 0);
    for (const index of notObjects.slice(0, MAX_ROW_ISSUES)) {
      issues.push({ loc: ['body', 'data', index], msg: 'each row must be a JSON object', type: 'type_error' });
    }
  }
  return issues.length > 0 ? { issues } : { importKey: importKey as KeyField, data: data as ImportRow[] };
}

/** The shape of `POST /cdh/v1/member/export`: an empty body, or `{"fields"?: [<field>, ...]}`. */
export function parseExportBody(body: unknown, fieldProblem: (field: string) => string | undefined): { fields: string[] | undefined } | { issues: ValidationIssue[] } {
  if (body === EMPTY_BODY) return { fields: undefined };
  if (!isObject(body)) return { issues: [{ loc: ['body'], msg: 'must be a JSON object', type: 'type_error' }] };
  const fields = body.fields;
  if (fields === undefined || fields === null) return { fields: undefined };
  if (!Array.isArray(fields) || fields.length === 0) {
    return { issues: [{ loc: ['body', 'fields'], msg: 'must be a non-empty array of field names', type: 'type_error' }] };
  }
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  fields.forEach((field: unknown, index) => {
    if (typeof field !== 'string') issues.push({ loc: ['body', 'fields', index], msg: 'must be a string', type: 'type_error' });
    else if (seen.has(field)) issues.push({ loc: ['body', 'fields', index], msg: `${field} is listed twice`, type: 'value_error' });
    else {
      seen.add(field);
      const problem = fieldProblem(field);
      if (problem) issues.push({ loc: ['body', 'fields', index], msg: `${field}: ${problem}`, type: 'value_error' });
    }
  });
  return issues.length > 0 ? { issues } : { fields: fields as string[] };
}
