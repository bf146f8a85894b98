import type { ValidationIssue } from './http-error';
import { seededRandom } from './seeded-random';

/** The endpoints a fault can target. */
export const FAULT_ENDPOINTS = ['import', 'import_status', 'export', 'export_status', 'download'] as const;
export type FaultEndpoint = (typeof FAULT_ENDPOINTS)[number];

export const INJECTED_ERROR_STATUSES = [500, 502, 503] as const;
const MAX_LATENCY_MS = 600_000; // a hang is the fault for longer than this

export interface RowRule {
  field: string;
  equals?: unknown;
  matches?: string;
  reason: string;
}

/** The fault settings of POST /__sandbox/faults; every part is optional. */
export interface FaultSettings {
  error_rate?: Partial<Record<FaultEndpoint, number>>;
  latency_ms?: Partial<Record<FaultEndpoint, number>>;
  hang_rate?: Partial<Record<FaultEndpoint, number>>;
  storm_429?: { rate: number; until_ms: number };
  task_duration_ms?: number;
  task_failure_rate?: number;
  task_failure_with_errors?: boolean;
  row_rules?: RowRule[];
  drop_after_accept_rate?: number;
  seed?: number;
}

type Check = (value: unknown, loc: Array<string | number>, issues: ValidationIssue[]) => void;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const probability: Check = (value, loc, issues) => {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) issues.push({ loc, msg: 'must be a number from 0 to 1', type: 'value_error' });
};
const duration: Check = (value, loc, issues) => {
  if (typeof value !== 'number' || !(value >= 0 && value <= MAX_LATENCY_MS)) {
    issues.push({ loc, msg: `must be a number of milliseconds from 0 to ${MAX_LATENCY_MS}`, type: 'value_error' });
  }
};
const boolean: Check = (value, loc, issues) => {
  if (typeof value !== 'boolean') issues.push({ loc, msg: 'must be a boolean', type: 'type_error' });
};
const integer: Check = (value, loc, issues) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) issues.push({ loc, msg: 'must be an integer', type: 'type_error' });
};
const perEndpoint =
  (each: Check): Check =>
  (value, loc, issues) => {
    if (!isObject(value)) {
      issues.push({ loc, msg: `must be an object keyed by endpoint (${FAULT_ENDPOINTS.join(', ')})`, type: 'type_error' });
      return;
    }
    for (const [endpoint, setting] of Object.entries(value)) {
      if (!(FAULT_ENDPOINTS as readonly string[]).includes(endpoint)) {
        issues.push({ loc: [...loc, endpoint], msg: `unknown endpoint; one of ${FAULT_ENDPOINTS.join(', ')}`, type: 'value_error' });
      } else each(setting, [...loc, endpoint], issues);
    }
  };
const storm: Check = (value, loc, issues) => {
  if (!isObject(value)) {
    issues.push({ loc, msg: 'must be an object {rate, until_ms}', type: 'type_error' });
    return;
  }
  for (const name of Object.keys(value)) {
    if (name !== 'rate' && name !== 'until_ms') issues.push({ loc: [...loc, name], msg: 'unknown setting', type: 'value_error' });
  }
  probability(value.rate, [...loc, 'rate'], issues);
  if (typeof value.until_ms !== 'number' || !(value.until_ms >= 0) || !Number.isFinite(value.until_ms)) {
    issues.push({ loc: [...loc, 'until_ms'], msg: 'must be a number of milliseconds from now, at least 0', type: 'value_error' });
  }
};
const rowRules: Check = (value, loc, issues) => {
  if (!Array.isArray(value)) {
    issues.push({ loc, msg: 'must be an array of {field, equals?, matches?, reason}', type: 'type_error' });
    return;
  }
  value.forEach((rule: unknown, i) => {
    const at = [...loc, i];
    if (!isObject(rule)) {
      issues.push({ loc: at, msg: 'must be an object {field, equals?, matches?, reason}', type: 'type_error' });
      return;
    }
    for (const name of Object.keys(rule)) {
      if (!['field', 'equals', 'matches', 'reason'].includes(name)) issues.push({ loc: [...at, name], msg: 'unknown setting', type: 'value_error' });
    }
    if (typeof rule.field !== 'string' || rule.field === '') issues.push({ loc: [...at, 'field'], msg: 'must be a field name', type: 'type_error' });
    if (typeof rule.reason !== 'string' || rule.reason === '') issues.push({ loc: [...at, 'reason'], msg: 'must be a non-empty string', type: 'type_error' });
    if (rule.matches !== undefined) {
      if (typeof rule.matches !== 'string') issues.push({ loc: [...at, 'matches'], msg: 'must be a regular expression', type: 'type_error' });
      else {
        try {
          new RegExp(rule.matches);
        } catch {
          issues.push({ loc: [...at, 'matches'], msg: 'not a valid regular expression', type: 'value_error' });
        }
      }
    }
  });
};

const CHECKS: Record<keyof FaultSettings, Check> = {
  error_rate: perEndpoint(probability),
  latency_ms: perEndpoint(duration),
  hang_rate: perEndpoint(probability),
  storm_429: storm,
  task_duration_ms: (value, loc, issues) => {
    if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) issues.push({ loc, msg: 'must be a number of milliseconds, at least 0', type: 'value_error' });
  },
  task_failure_rate: probability,
  task_failure_with_errors: boolean,
  row_rules: rowRules,
  drop_after_accept_rate: probability,
  seed: integer,
};

/** Checks a faults document; returns it typed, or every problem in it. */
export function parseFaultSettings(input: unknown): { settings: FaultSettings } | { issues: ValidationIssue[] } {
  if (!isObject(input)) return { issues: [{ loc: ['body'], msg: 'must be a JSON object', type: 'type_error' }] };
  const issues: ValidationIssue[] = [];
  for (const [name, value] of Object.entries(input)) {
    const check = CHECKS[name as keyof FaultSettings];
    if (!check) issues.push({ loc: ['body', name], msg: `unknown fault; one of ${Object.keys(CHECKS).join(', ')}`, type: 'value_error' });
    else check(value, ['body', name], issues);
  }
  return issues.length > 0 ? { issues } : { settings: input as FaultSettings };
}

/**
 * Decides, from the current settings and a seeded random sequence, which faults strike. A rate of
 * 0 or 1 draws nothing, so switching one fault fully on or off does not shift the others' draws.
 */
export class FaultInjector {
  private settings: FaultSettings = {};
  private stormEndsAt = 0;
  private compiledRules: Array<RowRule & { pattern?: RegExp }> = [];
  private random: () => number;

  constructor(private readonly defaultSeed: number) {
    this.random = seededRandom(defaultSeed);
  }

  get current(): FaultSettings {
    return this.settings;
  }

  /** Replaces every setting; the storm lasts `until_ms` from `now`. */
  replace(settings: FaultSettings, now: number): void {
    this.settings = settings;
    this.stormEndsAt = settings.storm_429 ? now + settings.storm_429.until_ms : 0;
    this.compiledRules = (settings.row_rules ?? []).map((rule) => ({ ...rule, pattern: rule.matches === undefined ? undefined : new RegExp(rule.matches) }));
    if (settings.seed !== undefined) this.random = seededRandom(settings.seed);
  }

  clear(): void {
    this.settings = {};
    this.stormEndsAt = 0;
    this.compiledRules = [];
    this.random = seededRandom(this.defaultSeed);
  }

  latencyMs(endpoint: FaultEndpoint): number {
    return this.settings.latency_ms?.[endpoint] ?? 0;
  }

  hangs(endpoint: FaultEndpoint): boolean {
    return this.chance(this.settings.hang_rate?.[endpoint]);
  }

  /** A 5xx status to answer instead of the real one, or undefined. */
  injectedError(endpoint: FaultEndpoint): number | undefined {
    if (!this.chance(this.settings.error_rate?.[endpoint])) return undefined;
    return INJECTED_ERROR_STATUSES[Math.floor(this.random() * INJECTED_ERROR_STATUSES.length)];
  }

  /** During a storm, the milliseconds it has left when this request is struck, else undefined. */
  storm(now: number): number | undefined {
    const storm = this.settings.storm_429;
    if (!storm || now >= this.stormEndsAt) return undefined;
    return this.chance(storm.rate) ? this.stormEndsAt - now : undefined;
  }

  taskDurationMs(): number | undefined {
    return this.settings.task_duration_ms;
  }

  /** Whether an accepted import will fail as a whole, and whether it then lists its rows. */
  taskFailure(): { withErrors: boolean } | undefined {
    return this.chance(this.settings.task_failure_rate) ? { withErrors: this.settings.task_failure_with_errors === true } : undefined;
  }

  dropsAfterAccept(): boolean {
    return this.chance(this.settings.drop_after_accept_rate);
  }

  /**
   * The row rules in force now, as a function giving the first rule a row matches (taken at
   * acceptance, so a task keeps the rules it was accepted under). `equals` compares the JSON
   * value, `matches` tests a string or number value, and a rule with neither matches any row that
   * carries the field.
   */
  rowRules(): (row: Record<string, unknown>) => RowRule | undefined {
    const rules = this.compiledRules;
    return (row) =>
      rules.find((rule) => {
        if (!(rule.field in row)) return false;
        const value = row[rule.field];
        if (rule.equals !== undefined && JSON.stringify(value) !== JSON.stringify(rule.equals)) return false;
        if (rule.pattern && !((typeof value === 'string' || typeof value === 'number') && rule.pattern.test(String(value)))) return false;
        return true;
      });
  }

  private chance(rate: number | undefined): boolean {
    if (rate === undefined || rate <= 0) return false;
    if (rate >= 1) return true;
    return this.random() < rate;
  }
}
