import { CachedRead } from '../../src/ops/cached-read';

/** A read whose answers the test hands out one by one. */
function aRead() {
  const pending: Array<{ resolve: (value: number) => void; reject: (error: Error) => void }> = [];
  const read = jest.fn(() => new Promise<number>((resolve, reject) => pending.push({ resolve, reject })));
  return { read, pending };
}

describe(CachedRead.name, () => {
  let now = 0;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000;
  });

  it('starts one read for any number of concurrent callers, and all get its answer', async () => {
    const { read, pending } = aRead();
    const sut = new CachedRead(5_000, read, clock);

    const answers = Promise.all(Array.from({ length: 200 }, () => sut.get()));
    pending[0]!.resolve(42);

    await expect(answers).resolves.toEqual(Array(200).fill(42));
    expect(read).toHaveBeenCalledTimes(1);
  });

  it('keeps sharing a slow read past the period, and counts the period from its answer', async () => {
    const { read, pending } = aRead();
    const sut = new CachedRead(5_000, read, clock);
    const first = sut.get();
    now += 9_000;
    const second = sut.get();
    pending[0]!.resolve(1);
    await expect(Promise.all([first, second])).resolves.toEqual([1, 1]);

    now += 4_999;
    await expect(sut.get()).resolves.toBe(1);
    expect(read).toHaveBeenCalledTimes(1);

    now += 1;
    const third = sut.get();
    pending[1]!.resolve(2);
    await expect(third).resolves.toBe(2);
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('keeps a failure for the period too, so a down dependency is not asked on every call', async () => {
    const { read, pending } = aRead();
    const sut = new CachedRead(5_000, read, clock);
    const first = sut.get();
    pending[0]!.reject(new Error('down'));
    await expect(first).rejects.toThrow('down');

    now += 1_000;
    await expect(sut.get()).rejects.toThrow('down');
    expect(read).toHaveBeenCalledTimes(1);

    now += 4_000;
    const again = sut.get();
    pending[1]!.resolve(7);
    await expect(again).resolves.toBe(7);
  });
});
