import type { SandboxTask, TaskKind, TaskStatus } from './sandbox-task';

interface Scheduled {
  task: SandboxTask;
  complete: (task: SandboxTask) => void;
}

/**
 * Keeps every task and finishes each exactly at its `finishedAt`. A task's status is derived from
 * the time asked, and every request first settles the tasks due by then, so what a client sees
 * never depends on how late a timer fired; the timers only make completion happen without requests.
 */
export class TaskRunner {
  private readonly tasks = new Map<string, SandboxTask>();
  private scheduled: Scheduled[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly now: () => number) {}

  add<T extends SandboxTask>(task: T, complete: (task: T) => void): void {
    this.tasks.set(task.id, task);
    this.scheduled.push({ task, complete: complete as (task: SandboxTask) => void });
    this.arm(task);
  }

  get(id: string): SandboxTask | undefined {
    return this.tasks.get(id);
  }

  /** Every task in acceptance order. */
  list(): SandboxTask[] {
    return [...this.tasks.values()];
  }

  statusOf(task: SandboxTask, now: number): TaskStatus {
    if (task.done) return 'done';
    return now < task.startedAt ? 'pending' : 'processing';
  }

  /** Whether the account has a task of this kind pending or processing at `now`. */
  busy(account: number, kind: TaskKind, now: number): boolean {
    this.settle(now);
    return this.scheduled.some(({ task }) => task.account === account && task.kind === kind);
  }

  /** Completes, in order, every task due by `now`. */
  settle(now: number): void {
    const due = this.scheduled.filter(({ task }) => task.finishedAt <= now).sort((a, b) => a.task.finishedAt - b.task.finishedAt);
    if (due.length === 0) return;
    this.scheduled = this.scheduled.filter(({ task }) => task.finishedAt > now);
    for (const { task, complete } of due) {
      complete(task);
      task.done = true;
    }
  }

  /** Forgets every task and stops every timer. */
  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.tasks.clear();
    this.scheduled = [];
  }

  private arm(task: SandboxTask): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.settle(this.now());
        // TRICKY: a timer may fire a millisecond before the wall clock reaches finishedAt.
        if (!task.done && this.tasks.get(task.id) === task) this.arm(task);
      },
      Math.max(1, task.finishedAt - this.now()),
    );
    this.timers.add(timer);
  }
}
