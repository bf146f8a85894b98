import type { Logger } from '../common/logger';

/**
 * How often ingest's dead letters are summed up in the log: often enough to see a mapping mistake
 * within a minute, rarely enough that a topic of bad events cannot flood the log.
 */
export const DEAD_LETTER_SUMMARY_INTERVAL_MS = 60_000;

/**
 * Counts ingest's dead letters by topic, stage and class, and logs them at most once an interval:
 * the first letter at once, the rest summed at the end of the interval. Never a value, a key or a
 * message text: those can carry personal data; the dead-letter topic has them.
 */
export class DeadLetterSummary {
  private counts = new Map<string, number>();
  private lastLoggedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = DEAD_LETTER_SUMMARY_INTERVAL_MS,
  ) {}

  add(letters: ReadonlyArray<{ stage: string; errorClass: string; topic?: string }>): void {
    if (letters.length === 0) return;
    for (const letter of letters) {
      const name = `${letter.topic ?? '-'} ${letter.stage}/${letter.errorClass}`;
      this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    }
    const due = this.lastLoggedAt + this.intervalMs - this.now();
    if (due <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), due).unref();
  }

  /** Logs what was counted since the last line, if anything; for shutdown as well. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.counts.size === 0) return;
    const deadLetters = Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
    const total = [...this.counts.values()].reduce((sum, n) => sum + n, 0);
    this.counts = new Map();
    this.lastLoggedAt = this.now();
    this.logger.warn(
      { deadLetters, total, intervalMs: this.intervalMs },
      'events dead-lettered (by source topic, stage/class); the dead-letter topic has each one with its reason',
    );
  }
}
