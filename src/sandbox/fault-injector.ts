/** Faults a test can switch on through POST /__sandbox/faults. */
export const ENDPOINTS = ['import', 'import_status', 'export', 'export_status', 'download'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export interface Faults {
  error_rate?: Partial<Record<Endpoint, number>>;
  latency_ms?: Partial<Record<Endpoint, number>>;
  hang_rate?: Partial<Record<Endpoint, number>>;
  storm_429?: { rate: number; until_ms: number };
  task_duration_ms?: number;
  task_failure_rate?: number;
  task_failure_with_errors?: boolean;
  row_rules?: Array<{ field: string; equals?: unknown; matches?: string; reason: string }>;
  drop_after_accept_rate?: number;
  seed?: number;
}

const rate = (value: unknown) => typeof value === 'number' && value >= 0 && value <= 1;

/** Checks a faults document; returns its problems. */
export function faultProblems(input: unknown): string[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return ['the body must be a JSON object'];
  const f = input as Record<string, unknown>;
  const problems: string[] = [];
  const known = ['error_rate', 'latency_ms', 'hang_rate', 'storm_429', 'task_duration_ms', 'task_failure_rate', 'task_failure_with_errors', 'row_rules', 'drop_after_accept_rate', 'seed'];
  for (const name of Object.keys(f)) if (!known.includes(name)) problems.push(`${name}: unknown fault`);
  for (const name of ['error_rate', 'hang_rate', 'latency_ms'] as const) {
    const map = f[name];
    if (map === undefined) continue;
    if (typeof map !== 'object' || map === null) {
      problems.push(`${name}: must be an object of endpoint -> value`);
      continue;
    }
    for (const [endpoint, value] of Object.entries(map)) {
      if (!(ENDPOINTS as readonly string[]).includes(endpoint)) problems.push(`${name}.${endpoint}: unknown endpoint`);
      else if (name === 'latency_ms' ? !(typeof value === 'number' && value >= 0) : !rate(value)) problems.push(`${name}.${endpoint}: bad value`);
    }
  }
  for (const name of ['task_failure_rate', 'drop_after_accept_rate'] as const) {
    if (f[name] !== undefined && !rate(f[name])) problems.push(`${name}: must be a number from 0 to 1`);
  }
  if (f.task_duration_ms !== undefined && !(typeof f.task_duration_ms === 'number' && f.task_duration_ms >= 0)) problems.push('task_duration_ms: must be a number >= 0');
  if (f.storm_429 !== undefined) {
    const storm = f.storm_429 as Record<string, unknown>;
    if (!rate(storm?.rate) || !(typeof storm?.until_ms === 'number' && storm.until_ms >= 0)) problems.push('storm_429: needs rate (0..1) and until_ms (>= 0)');
  }
  if (f.row_rules !== undefined) {
    if (!Array.isArray(f.row_rules)) problems.push('row_rules: must be an array');
    else
      f.row_rules.forEach((rule: Record<string, unknown>, i: number) => {
        if (typeof rule?.field !== 'string' || typeof rule?.reason !== 'string') problems.push(`row_rules[${i}]: needs field and reason`);
        if (rule?.matches !== undefined) {
          try {
            new RegExp(String(rule.matches));
          } catch {
            problems.push(`row_rules[${i}].matches: not a regular expression`);
          }
        }
      });
  }
  return problems;
}

/** A small seeded PRNG (mulberry32), so fault sequences can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
