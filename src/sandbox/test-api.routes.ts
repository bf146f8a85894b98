import type { Contact, ContactRecord } from './contact-store';
import { parseFaultSettings } from './fault-injector';
import { KEY_FIELDS, isKeyField, type KeyField } from './field-rules';
import { HttpError, allow, type ValidationIssue } from './http-error';
import { isoTime } from './iso-time';
import { EMPTY_BODY, readJsonBody } from './json-body';
import { json, type Reply } from './reply';
import { validateRow } from './row-validation';
import type { SandboxState } from './sandbox-state';
import type { SandboxRequest } from './sandbox.routes';

export const TEST_API_PREFIX = '/__sandbox';
const DEFAULT_PAGE = 1_000;
const MAX_PAGE = 10_000;

/** A contact as the test API shows it: CAAC's id first, then its fields. */
const view = (record: ContactRecord): Contact => ({ contact_id: record.id, ...record.fields });

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The test-only API of DESIGN §4.3 (contacts, request log, faults, reset). It needs no api key;
 * the server answers 404 for all of it unless SANDBOX_TEST_API is on.
 */
export class TestApiRoutes {
  constructor(private readonly state: SandboxState) {}

  async handle({ req, url }: SandboxRequest): Promise<Reply | undefined> {
    const method = req.method ?? 'GET';
    switch (url.pathname) {
      case `${TEST_API_PREFIX}/contacts`:
        allow(method, ['GET', 'POST']);
        return method === 'GET' ? this.getContacts(url) : this.seedContacts(await readJsonBody(req, this.state.config.maxBodyBytes));
      case `${TEST_API_PREFIX}/contacts/remove`:
        allow(method, ['POST']);
        return this.removeContacts(await readJsonBody(req, this.state.config.maxBodyBytes));
      case `${TEST_API_PREFIX}/requests`:
        allow(method, ['GET']);
        return json(200, { requests: this.state.log.toJSON(), tasks: this.tasks() });
      case `${TEST_API_PREFIX}/faults`:
        allow(method, ['GET', 'POST']);
        return method === 'GET' ? json(200, this.state.faults.current) : this.setFaults(await readJsonBody(req, this.state.config.maxBodyBytes));
      case `${TEST_API_PREFIX}/reset`:
        allow(method, ['POST']);
        this.state.reset();
        return json(200, { reset: true });
      default:
        return undefined;
    }
  }

  private getContacts(url: URL): Reply {
    const store = this.state.store(this.account(url.searchParams.get('api_key'), ['query', 'api_key']));
    const keyType = url.searchParams.get('key_type');
    if (keyType !== null) {
      const key = url.searchParams.get('key');
      const issues: ValidationIssue[] = [];
      if (!isKeyField(keyType)) issues.push({ loc: ['query', 'key_type'], msg: `must be one of ${KEY_FIELDS.join(', ')}`, type: 'value_error' });
      if (key === null) issues.push({ loc: ['query', 'key'], msg: 'field required with key_type', type: 'missing' });
      if (issues.length > 0) throw HttpError.unprocessable(issues);
      const record = store.findRecord(keyType as KeyField, key!);
      return json(200, { contact: record ? view(record) : null });
    }
    const limit = integerParam(url, 'limit', DEFAULT_PAGE, 1, MAX_PAGE);
    const offset = integerParam(url, 'cursor', 0, 0, Number.MAX_SAFE_INTEGER);
    const all = store.live();
    const page = all.slice(offset, offset + limit).map(view);
    return json(200, { contacts: page, next_cursor: offset + limit < all.length ? String(offset + limit) : null });
  }

  /** Seeds contacts all or nothing, each applied like an import row keyed by the first key field it carries. */
  private seedContacts(body: unknown): Reply {
    if (!isObject(body)) throw HttpError.unprocessable([{ loc: ['body'], msg: 'must be a JSON object {"contacts": [...]}', type: body === EMPTY_BODY ? 'missing' : 'type_error' }]);
    if (!Array.isArray(body.contacts)) throw HttpError.unprocessable([{ loc: ['body', 'contacts'], msg: 'must be an array of contacts', type: 'type_error' }]);
    const store = this.state.store(this.account(body.api_key ?? null, ['body', 'api_key']));
    const before = store.snapshot();
    const when = this.state.changeTime(Date.now());
    const issues: ValidationIssue[] = [];
    body.contacts.forEach((contact: unknown, index) => {
      const loc = ['body', 'contacts', index];
      if (!isObject(contact)) {
        issues.push({ loc, msg: 'must be a JSON object', type: 'type_error' });
        return;
      }
      const keyField = KEY_FIELDS.find((field) => contact[field] !== undefined && contact[field] !== null);
      if (!keyField) {
        issues.push({ loc, msg: `needs a key field (${KEY_FIELDS.join(', ')})`, type: 'value_error' });
        return;
      }
      const errors = validateRow(keyField, contact, index);
      const failed = errors.length > 0 ? errors : [store.upsert(keyField, contact as Contact, index, when)].flatMap((outcome) => ('error' in outcome ? [outcome.error] : []));
      for (const error of failed) issues.push({ loc: error.field === null ? loc : [...loc, error.field], msg: error.reason, type: 'value_error' });
    });
    if (issues.length > 0) {
      store.restore(before);
      throw HttpError.unprocessable(issues);
    }
    return json(200, { seeded: body.contacts.length });
  }

  /**
   * Removes contacts, each named by the first key field it carries (`{"contacts": [{"customer_id":
   * "C-1"}]}`), as CAAC does when a brand deletes them; unknown ones are skipped. For export tests.
   */
  private removeContacts(body: unknown): Reply {
    if (!isObject(body) || !Array.isArray(body.contacts)) throw HttpError.unprocessable([{ loc: ['body', 'contacts'], msg: 'must be an array of contacts', type: 'type_error' }]);
    const store = this.state.store(this.account(body.api_key ?? null, ['body', 'api_key']));
    const when = this.state.changeTime(Date.now());
    let removed = 0;
    for (const contact of body.contacts as unknown[]) {
      if (!isObject(contact)) continue;
      const keyField = KEY_FIELDS.find((field) => typeof contact[field] === 'string');
      if (keyField && store.remove(keyField, contact[keyField] as string, when)) removed++;
    }
    return json(200, { removed });
  }

  private setFaults(body: unknown): Reply {
    const parsed = parseFaultSettings(body === EMPTY_BODY ? {} : body);
    if ('issues' in parsed) throw HttpError.unprocessable(parsed.issues);
    this.state.faults.replace(parsed.settings, Date.now());
    return json(200, parsed.settings);
  }

  private tasks(): unknown[] {
    const now = Date.now();
    this.state.tasks.settle(now);
    return this.state.tasks.list().map((task) => ({
      task_id: task.id,
      kind: task.kind,
      rows: task.rows,
      accepted_at: isoTime(task.acceptedAt),
      started_at: isoTime(task.startedAt),
      finished_at: isoTime(task.finishedAt),
      status: this.state.tasks.statusOf(task, now),
      success: task.success,
    }));
  }

  /** The account an `api_key` parameter names; the first configured key when absent. */
  private account(apiKey: unknown, loc: string[]): number {
    if (apiKey === null || apiKey === '') return 0;
    const account = this.state.apiKeys.accountOf(apiKey);
    if (account === undefined) throw HttpError.unprocessable([{ loc, msg: 'not one of the configured api keys', type: 'value_error' }]);
    return account;
  }
}

function integerParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw HttpError.unprocessable([{ loc: ['query', name], msg: `must be an integer from ${min} to ${max}`, type: 'value_error' }]);
  }
  return value;
}

