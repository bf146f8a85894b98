import { SOURCE_TIME_MIN_MS, checkSourceTime } from '../../src/profile';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const DAY = 86_400_000;

describe(checkSourceTime.name, () => {
  it.each([
    ['a time an hour ago', NOW - 3_600_000],
    ['the service clock itself', NOW],
    ['a clock ahead by exactly the allowed skew', NOW + DAY],
    ['2000-01-01T00:00:00Z, the floor', SOURCE_TIME_MIN_MS],
  ])('accepts %s', (_, ts) => {
    expect(checkSourceTime(ts, NOW, DAY)).toEqual({ ok: true, ts });
  });

  it.each([
    ['a string', '1764324930123', 'is not a number'],
    ['NaN', Number.NaN, 'is not a number'],
    ['a fraction of a millisecond', 1_764_324_930_123.5, 'must be a whole number of milliseconds since the epoch, got 1764324930123.5'],
    ['a number beyond 2^53', 1e20, 'must be a whole number of milliseconds since the epoch, got 100000000000000000000'],
    ['seconds instead of milliseconds', 1_764_324_930, 'is 1764324930 ms since the epoch, before 2000-01-01 (seconds instead of milliseconds?)'],
    ['a negative time', -1, 'is -1 ms since the epoch, before 2000-01-01 (seconds instead of milliseconds?)'],
    [
      'one millisecond beyond the allowed skew',
      NOW + DAY + 1,
      `is ${NOW + DAY + 1} ms since the epoch, more than 86400000 ms (MAX_FUTURE_SKEW_MS) ahead of this service's clock (2026-12-01T12:00:00.000Z)`,
    ],
    [
      'microseconds instead of milliseconds',
      1_764_324_930_123_000,
      `is 1764324930123000 ms since the epoch, more than 86400000 ms (MAX_FUTURE_SKEW_MS) ahead of this service's clock (2026-12-01T12:00:00.000Z)`,
    ],
  ])('rejects %s', (_, ts, reason) => {
    expect(checkSourceTime(ts, NOW, DAY)).toEqual({ ok: false, reason });
  });
});
