import { RateWindow } from '../../src/sandbox/rate-window';

describe(RateWindow.name, () => {
  const WINDOW_MS = 60_000;

  it('admits up to the limit within (t - window, t]', () => {
    const sut = new RateWindow(3, WINDOW_MS);

    const answers = [0, 10, 20, 30].map((at) => sut.admit(at));

    expect(answers).toEqual([{ admitted: true }, { admitted: true }, { admitted: true }, { admitted: false, retryAfterMs: 59_970 }]);
  });

  it('lets a request in once the oldest is exactly one window old', () => {
    const sut = new RateWindow(1, WINDOW_MS);
    sut.admit(1_000);

    expect(sut.admit(1_000 + WINDOW_MS - 1)).toEqual({ admitted: false, retryAfterMs: 1 });
    expect(sut.admit(1_000 + WINDOW_MS)).toEqual({ admitted: true });
  });

  it('does not count refused requests', () => {
    const sut = new RateWindow(2, WINDOW_MS);
    sut.admit(0);
    sut.admit(100);
    for (let at = 200; at < 1_000; at += 100) sut.admit(at);

    expect(sut.admit(WINDOW_MS)).toEqual({ admitted: true });
    expect(sut.admit(WINDOW_MS + 50)).toEqual({ admitted: false, retryAfterMs: 50 });
  });

  it('slides: the 16th request of a minute waits for the first to leave', () => {
    const sut = new RateWindow(15, WINDOW_MS);
    for (let i = 0; i < 15; i++) expect(sut.admit(i * 1_000)).toEqual({ admitted: true });

    expect(sut.admit(30_000)).toEqual({ admitted: false, retryAfterMs: 30_000 });
    expect(sut.admit(60_000)).toEqual({ admitted: true });
    expect(sut.admit(60_500)).toEqual({ admitted: false, retryAfterMs: 500 });
  });
});
