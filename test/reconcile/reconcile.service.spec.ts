import { RECONCILE_RETRY_MAX_MS, reconcileRetryDelayMs } from '../../src/reconcile/reconcile.service';

describe(reconcileRetryDelayMs.name, () => {
  it('backs off from two checks, doubling, to at most five minutes, however many runs failed', () => {
    const sut = [1, 2, 3, 8, 9, 50, 10_000].map(reconcileRetryDelayMs);

    expect(sut).toEqual([2_000, 4_000, 8_000, 256_000, RECONCILE_RETRY_MAX_MS, RECONCILE_RETRY_MAX_MS, RECONCILE_RETRY_MAX_MS]);
  });
});
