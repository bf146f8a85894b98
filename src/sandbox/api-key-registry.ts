import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * The accepted api keys; an account is a key's position in SANDBOX_API_KEYS, which is all that is
 * ever logged or shown of it.
 */
export class ApiKeyRegistry {
  private readonly digests: Buffer[];

  constructor(readonly keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get count(): number {
    return this.keys.length;
  }

  /** The account of a presented key, or undefined; compared in constant time. */
  accountOf(presented: unknown): number | undefined {
    if (typeof presented !== 'string' || presented === '') return undefined;
    const candidate = digest(presented);
    let found: number | undefined;
    this.digests.forEach((known, account) => {
      if (timingSafeEqual(known, candidate) && found === undefined) found = account;
    });
    return found;
  }
}
