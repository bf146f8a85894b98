/**
 * One read shared by every caller for `ttlMs`: concurrent callers wait on the read in flight
 * rather than starting their own (single flight), and later ones get its outcome, a failure
 * included, until it is older than `ttlMs`. A probe storm then costs one read per period.
 */
export class CachedRead<T> {
  private last: { at: number; value: Promise<T> } | undefined;
  private inFlight = false;

  constructor(
    private readonly ttlMs: number,
    private readonly read: () => Promise<T>,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    const now = this.now();
    // A read still in flight is shared however long it takes: its own timeouts bound it.
    if (this.last && (this.inFlight || now - this.last.at < this.ttlMs)) return this.last.value;
    const value = this.read();
    this.inFlight = true;
    const settled = () => {
      if (this.last?.value === value) {
        this.inFlight = false;
        // The period starts when the answer came: a slow read is not asked again at once.
        this.last.at = this.now();
      }
    };
    value.then(settled, settled);
    this.last = { at: now, value };
    return value;
  }
}
