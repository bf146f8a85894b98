export interface TaskTimingRules {
  taskMinMs: number;
  taskMsPerRow: number;
  taskPendingMs: number;
}

export interface TaskTiming {
  acceptedAt: number;
  startedAt: number;
  finishedAt: number;
}

/**
 * When a task accepted at `acceptedAt` turns processing and done: it takes max(min, rows x per-row)
 * milliseconds (or the override), of which the first `taskPendingMs` are pending.
 */
export function taskTiming(acceptedAt: number, rows: number, rules: TaskTimingRules, overrideMs?: number): TaskTiming {
  const duration = Math.ceil(overrideMs ?? Math.max(rules.taskMinMs, rows * rules.taskMsPerRow));
  return { acceptedAt, startedAt: acceptedAt + Math.min(rules.taskPendingMs, duration), finishedAt: acceptedAt + duration };
}
