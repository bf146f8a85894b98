import { createLogger } from '../../src/common/logger';
import { DeadLetterSummary } from '../../src/ingest/dead-letter-summary';

describe(DeadLetterSummary.name, () => {
  let lines: Array<Record<string, unknown>>;
  let now: number;
  let sut: DeadLetterSummary;
  const letter = (errorClass: string, stage = 'validate', topic = 'crm.public.members') => ({ stage, errorClass, topic, message: 'mail -> display_email: amy@example' });

  beforeEach(() => {
    jest.useFakeTimers();
    lines = [];
    now = 0;
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    sut = new DeadLetterSummary(logger, () => now, 60_000);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('logs the first dead letter at once, then at most one summary a minute, counted by topic, stage and class', () => {
    sut.add([letter('InvalidKey')]);
    now = 10_000;
    sut.add([letter('InvalidKey'), letter('InvalidField')]);
    now = 20_000;
    sut.add([letter('InvalidJson', 'decode')]);

    expect(lines.map((line) => line.deadLetters)).toEqual([{ 'crm.public.members validate/InvalidKey': 1 }]);

    now = 60_000;
    jest.advanceTimersByTime(50_000);

    expect(lines.map((line) => ({ deadLetters: line.deadLetters, total: line.total, level: line.level }))).toEqual([
      { deadLetters: { 'crm.public.members validate/InvalidKey': 1 }, total: 1, level: 40 },
      {
        deadLetters: { 'crm.public.members decode/InvalidJson': 1, 'crm.public.members validate/InvalidField': 1, 'crm.public.members validate/InvalidKey': 1 },
        total: 3,
        level: 40,
      },
    ]);
    // Never a value or a message text: they can carry personal data.
    expect(JSON.stringify(lines)).not.toContain('amy@example');
  });

  it('logs nothing when nothing was dead-lettered', () => {
    sut.add([]);
    sut.flush();

    expect(lines).toEqual([]);
  });
});
