import { TokenBucket } from '../../src/caac/token-bucket';
import { FakeClock, settle } from './fake-clock';

const INTERVAL_MS = 100;

describe(TokenBucket.name, () => {
  let clock: FakeClock;
  let start: number;

  beforeEach(() => {
    clock = new FakeClock();
    start = clock.now();
  });

  function aBucket(capacity = 1, intervalMs = INTERVAL_MS): TokenBucket {
    return new TokenBucket(clock, { capacity, intervalMs });
  }

  /** Starts `takers` takes at once; resolves with when (ms after start) each got its token, by taker. */
  function grantTimes(sut: TokenBucket, takers: string[]): { order: string[]; at: Record<string, number> } {
    const order: string[] = [];
    const at: Record<string, number> = {};
    for (const taker of takers) {
      void sut.take().then(() => {
        order.push(taker);
        at[taker] = clock.now() - start;
      });
    }
    return { order, at };
  }

  /** The most tokens handed out in any rolling window of `windowMs` (a grant at t leaves at t + windowMs). */
  function mostInAnyWindow(times: number[], windowMs: number): number {
    return Math.max(0, ...times.map((from) => times.filter((t) => t >= from && t < from + windowMs).length));
  }

  it('starts full: `capacity` tokens go back to back (the burst), then one per interval', async () => {
    const sut = aBucket(3);

    const granted = grantTimes(sut, ['a', 'b', 'c', 'd', 'e']);
    await clock.advance(1_000);

    expect(granted.at).toEqual({ a: 0, b: 0, c: 0, d: 100, e: 200 });
  });

  it('serves concurrent takers strictly in the order they asked', async () => {
    const sut = aBucket(1);
    await sut.take();

    const granted = grantTimes(sut, ['a', 'b', 'c', 'd']);
    await clock.advance(250);
    const late = grantTimes(sut, ['e']);
    await clock.advance(1_000);

    expect(granted.order).toEqual(['a', 'b', 'c', 'd']);
    expect({ ...granted.at, ...late.at }).toEqual({ a: 100, b: 200, c: 300, d: 400, e: 500 });
  });

  it('queues a caller behind earlier waiters even when a token has come due', async () => {
    const sut = aBucket(1);
    await sut.take();
    const first = grantTimes(sut, ['first']);

    await clock.advance(100);
    const second = grantTimes(sut, ['second']);
    await settle();

    expect(first.at).toEqual({ first: 100 });
    expect(second.at).toEqual({});
    await clock.advance(100);
    expect(second.at).toEqual({ second: 200 });
  });

  it('adds one token an interval, counted from when the last was taken, up to the capacity', async () => {
    const sut = aBucket(2);
    await sut.take();
    await sut.take();

    expect([sut.available(), sut.waitMs()]).toEqual([0, 100]);
    await clock.advance(40);
    expect([sut.available(), sut.waitMs()]).toEqual([0, 60]);
    await clock.advance(60);
    expect([sut.available(), sut.waitMs()]).toEqual([1, 0]);
    await clock.advance(10_000);
    expect([sut.available(), sut.waitMs()]).toEqual([2, 0]);
  });

  it('never hands out more than capacity + floor(d / interval) tokens in any span of d ms', async () => {
    const sut = aBucket(2, 250);
    const times: number[] = [];
    const takeAt = [0, 0, 0, 10, 300, 320, 900, 905, 910, 4_000, 4_001, 4_002, 4_003];
    for (const offset of takeAt) {
      await clock.advance(start + offset - clock.now());
      void sut.take().then(() => times.push(clock.now() - start));
    }
    await clock.advance(5_000);

    expect(times).toEqual([0, 0, 250, 500, 750, 1_000, 1_250, 1_500, 1_750, 4_000, 4_001, 4_250, 4_500]);
    for (const [i, from] of times.entries()) {
      for (const to of times.slice(i)) {
        expect(times.filter((t) => t >= from && t <= to).length).toBeLessThanOrEqual(2 + Math.floor((to - from) / 250));
      }
    }
  });

  describe('with a rolling window', () => {
    const WINDOW_MS = 1_000;

    function aWindowedBucket(capacity: number, limit = 3, intervalMs = INTERVAL_MS): TokenBucket {
      return new TokenBucket(clock, { capacity, intervalMs, window: { limit, windowMs: WINDOW_MS } });
    }

    it('holds each token for the window, even when the refill alone would hand out more', async () => {
      // A refill alone: 5 back to back, then one every 100 ms = 14 in the first second.
      const sut = aWindowedBucket(5, 3);

      const granted = grantTimes(sut, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
      await clock.advance(5_000);

      expect(granted.at).toEqual({ a: 0, b: 0, c: 0, d: 1_000, e: 1_000, f: 1_000, g: 2_000 });
    });

    it('never hands out more than the limit in any rolling window, however the takes come', async () => {
      const sut = aWindowedBucket(4, 3, 150);
      const times: number[] = [];
      for (const offset of [0, 0, 0, 0, 10, 300, 320, 900, 905, 2_500, 2_501, 2_502, 2_503, 2_504]) {
        await clock.advance(start + offset - clock.now());
        void sut.take().then(() => times.push(clock.now() - start));
      }
      await clock.advance(10_000);

      expect(times).toEqual([0, 0, 0, 1_000, 1_000, 1_000, 2_000, 2_000, 2_000, 3_000, 3_000, 3_000, 4_000, 4_000]);
      expect(mostInAnyWindow(times, WINDOW_MS)).toBe(3);
    });

    it('counts available tokens against both the refill and the window', async () => {
      const sut = aWindowedBucket(5, 3);
      await sut.take();
      await sut.take();

      expect([sut.available(), sut.waitMs()]).toEqual([1, 0]);
      await sut.take();
      expect([sut.available(), sut.waitMs()]).toEqual([0, 1_000]);
      await clock.advance(1_000);
      expect([sut.available(), sut.waitMs()]).toEqual([3, 0]);
    });

    it('refuses a window limit below 1 and a window that is not positive', () => {
      expect(() => new TokenBucket(clock, { capacity: 1, intervalMs: 1, window: { limit: 0, windowMs: 1 } })).toThrow(
        new RangeError("a token bucket's window needs an integer limit >= 1, got 0"),
      );
      expect(() => new TokenBucket(clock, { capacity: 1, intervalMs: 1, window: { limit: 1, windowMs: -1 } })).toThrow(
        new RangeError("a token bucket's window needs a positive length, got -1"),
      );
    });
  });

  describe('seed (a new holder of the limit after fail-over)', () => {
    const WINDOW_MS = 1_500;

    function aWindowedBucket(capacity = 1, limit = 15): TokenBucket {
      return new TokenBucket(clock, { capacity, intervalMs: INTERVAL_MS, window: { limit, windowMs: WINDOW_MS } });
    }

    it('starts where the previous holder left off: the next token one interval after its last', async () => {
      const sut = aWindowedBucket();

      sut.seed([530, 430, 330, 230, 130, 30]);

      expect([sut.available(), sut.waitMs()]).toEqual([0, 70]);
      const granted = grantTimes(sut, ['a', 'b']);
      await clock.advance(1_000);
      expect(granted.at).toEqual({ a: 70, b: 170 });
    });

    it('keeps each seeded request in the window until it is a window old, so fail-over never exceeds the limit', async () => {
      // The old holder took all 15 of its window with a burst, the last 10 ms before the takeover.
      const sut = aWindowedBucket(15, 15);
      const seeded = Array.from({ length: 15 }, (_, i) => 1_000 - i * 70);

      sut.seed(seeded);
      const times: number[] = [];
      for (let i = 0; i < 6; i++) void sut.take().then(() => times.push(clock.now() - start));
      await clock.advance(5_000);

      // Each new token waits for one seeded request to leave the window: 1,500 ms after it was taken.
      expect(times).toEqual([500, 570, 640, 710, 780, 850]);
      expect(mostInAnyWindow([...seeded.map((age) => -age), ...times], WINDOW_MS)).toBe(15);
    });

    it('leaves a bucket full when every seeded request is older than the window and the interval', async () => {
      const sut = aWindowedBucket(3, 3);

      sut.seed([5_000, 4_000, 1_600]);

      expect([sut.available(), sut.waitMs()]).toEqual([3, 0]);
    });

    it('never makes a token available sooner than it already would be', async () => {
      const sut = aWindowedBucket();
      sut.drain(start + 900);

      sut.seed([50]);

      expect(sut.waitMs()).toBe(900);
    });

    it('counts an age in the future (a clock ahead of ours) as now', async () => {
      const sut = aWindowedBucket();

      sut.seed([-300]);

      expect(sut.waitMs()).toBe(INTERVAL_MS);
    });
  });

  describe('drain', () => {
    it('holds every token back until the given time, then refills from there', async () => {
      const sut = aBucket(3);
      await sut.take();

      sut.drain(start + 5_000);
      const granted = grantTimes(sut, ['a', 'b', 'c']);
      await clock.advance(4_999);

      expect([granted.at, sut.available(), sut.waitMs()]).toEqual([{}, 0, 1]);
      await clock.advance(1_000);
      expect(granted.at).toEqual({ a: 5_000, b: 5_100, c: 5_200 });
    });

    it('without a time, leaves the next token one interval from now', async () => {
      const sut = aBucket(3);
      await clock.advance(30);

      sut.drain();

      expect([sut.available(), sut.waitMs()]).toEqual([0, 100]);
    });

    it('never makes a token available sooner than it already would be', async () => {
      const sut = aBucket(1);
      sut.drain(start + 1_000);

      sut.drain(start + 200);
      sut.drain();

      expect(sut.waitMs()).toBe(1_000);
    });

    it('pushes back a waiter already sleeping for its token', async () => {
      const sut = aBucket(1);
      await sut.take();
      const granted = grantTimes(sut, ['a']);
      await clock.advance(50);

      sut.drain(start + 700);
      await clock.advance(649);
      expect(granted.at).toEqual({});
      await clock.advance(1);

      expect(granted.at).toEqual({ a: 700 });
    });
  });

  describe('abort', () => {
    it('rejects an aborted waiter with the reason, and the next waiter gets its token', async () => {
      const sut = aBucket(1);
      await sut.take();
      const controller = new AbortController();
      const aborted = sut.take(controller.signal);
      const granted = grantTimes(sut, ['next']);

      controller.abort(new Error('caller gave up'));

      await expect(aborted).rejects.toThrow('caller gave up');
      await clock.advance(100);
      expect(granted.at).toEqual({ next: 100 });
    });

    it('rejects at once for a signal already aborted, taking nothing', async () => {
      const sut = aBucket(1);

      await expect(sut.take(AbortSignal.abort(new Error('already gone')))).rejects.toThrow('already gone');
      expect(sut.available()).toBe(1);
    });

    it('stops sleeping when the last waiter leaves, and serves a later caller on time', async () => {
      const sut = aBucket(1);
      await sut.take();
      const controller = new AbortController();
      const aborted = sut.take(controller.signal);
      await settle();

      controller.abort(new Error('gone'));
      await expect(aborted).rejects.toThrow('gone');
      await settle();

      expect(clock.pendingSleeps).toBe(0);
      const granted = grantTimes(sut, ['later']);
      await clock.advance(100);
      expect(granted.at).toEqual({ later: 100 });
    });
  });

  it('refuses a capacity below 1 or not whole, and an interval that is not positive', () => {
    expect(() => aBucket(0)).toThrow(new RangeError('a token bucket needs an integer capacity >= 1, got 0'));
    expect(() => aBucket(1.5)).toThrow(new RangeError('a token bucket needs an integer capacity >= 1, got 1.5'));
    expect(() => aBucket(1, 0)).toThrow(new RangeError('a token bucket needs a positive interval, got 0'));
    expect(() => aBucket(1, Number.POSITIVE_INFINITY)).toThrow(new RangeError('a token bucket needs a positive interval, got Infinity'));
  });
});
