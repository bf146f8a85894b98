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
