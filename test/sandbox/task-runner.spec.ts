import type { ExportTask } from '../../src/sandbox/sandbox-task';
import { TaskRunner } from '../../src/sandbox/task-runner';
import { taskTiming } from '../../src/sandbox/task-timing';

describe(TaskRunner.name, () => {
  const RULES = { taskMinMs: 1_000, taskMsPerRow: 0.1, taskPendingMs: 100 };
  let now = 0;
  let sut: TaskRunner;

  function anExportTask(overrides: Partial<ExportTask> = {}): ExportTask {
    return { id: `T-${Math.random()}`, kind: 'export', account: 0, rows: 0, ...taskTiming(now, 0, RULES), done: false, success: null, fields: undefined, cutoff: now, ...overrides };
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: 0 });
    now = 0;
    sut = new TaskRunner(() => now);
  });
  afterEach(() => {
    sut.clear();
    jest.useRealTimers();
  });

  it('is pending, processing, then done exactly at finishedAt, whenever asked', () => {
    const task = anExportTask();
    const completed: number[] = [];
    sut.add(task, () => completed.push(now));

    const statuses = [0, 99, 100, 999, 1_000].map((at) => {
      now = at;
      sut.settle(at);
      return sut.statusOf(task, at);
    });

    expect(statuses).toEqual(['pending', 'pending', 'processing', 'processing', 'done']);
    expect(completed).toEqual([1_000]);
  });

  it('completes by timer without any request', () => {
    const task = anExportTask();
    sut.add(task, () => undefined);

    now = 1_000;
    jest.advanceTimersByTime(1_000);

    expect(task.done).toBe(true);
  });

  it('is busy per account and kind until the task is done', () => {
    sut.add(anExportTask({ account: 1 }), () => undefined);

    expect([sut.busy(1, 'export', 500), sut.busy(0, 'export', 500), sut.busy(1, 'import', 500), sut.busy(1, 'export', 1_000)]).toEqual([true, false, false, false]);
  });

  it('completes due tasks in the order they finish', () => {
    const order: string[] = [];
    sut.add(anExportTask({ id: 'late', finishedAt: 2_000 }), () => order.push('late'));
    sut.add(anExportTask({ id: 'early', finishedAt: 1_500 }), () => order.push('early'));

    sut.settle(5_000);

    expect(order).toEqual(['early', 'late']);
  });

  it('takes max(min, rows x per-row), pending within it', () => {
    expect(taskTiming(10, 20_000, RULES)).toEqual({ acceptedAt: 10, startedAt: 110, finishedAt: 2_010 });
    expect(taskTiming(10, 5, RULES, 50)).toEqual({ acceptedAt: 10, startedAt: 60, finishedAt: 60 });
  });
});
