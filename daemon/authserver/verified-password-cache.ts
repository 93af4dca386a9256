import { createHmac, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/**
 * Remembers for a short while that a password matched an account's stored hash, so
 * a node authenticating again — or the many nodes of one account — do not each pay
 * a full scrypt (tens of milliseconds of a thread-pool thread: it bounded the server
 * at a few dozen authentications a second, see docs/benchmarks.md).
 *
 * Only successes are remembered: a wrong password always pays the full scrypt, as
 * an attacker guessing passwords must. The key covers the stored hash, so a changed
 * password (new salt, new hash) never hits an old entry, and the account itself is
 * still read from Redis on every request (disabled, deleted, expired take effect at
 * once). Keys are HMACs under a random key of this process: the memory never holds a
 * password, nor a digest that could be attacked outside the process.
 */
export interface VerifiedPasswordCacheOptions {
  /** How long a verification is trusted; default 60 s. */
  ttlMs?: number;
  /** Bound on the entries kept (oldest dropped first); default 10,000. */
  maxEntries?: number;
  /** Monotonic milliseconds; performance.now() unless a test injects another. */
  now?: () => number;
}

export class VerifiedPasswordCache {
  readonly ttlMs: number;
  readonly maxEntries: number;
  private readonly now: () => number;
  private readonly secret = randomBytes(32);
  /** key → expiry; Map keeps insertion order, so the first entry is the oldest. */
  private readonly entries = new Map<string, number>();

  constructor(options: VerifiedPasswordCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    if (!(this.ttlMs >= 0)) throw new RangeError(`ttlMs must be at least 0, got ${this.ttlMs}`);
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1)
      throw new RangeError(`maxEntries must be a whole number of at least 1, got ${this.maxEntries}`);
    this.now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.entries.size;
  }

  /** The HMAC this cache keys an (account, stored hash, password) by; also names a check in progress. */
  keyOf(account: string, storedHash: string, password: string): string {
    return this.key(account, storedHash, password);
  }

  private key(account: string, storedHash: string, password: string): string {
    return createHmac('sha256', this.secret).update(account).update('\0').update(storedHash).update('\0').update(password).digest('base64');
  }

  /** True when this password was verified against this stored hash less than ttlMs ago. */
  has(account: string, storedHash: string, password: string): boolean {
    const key = this.key(account, storedHash, password);
    const expires = this.entries.get(key);
    if (expires === undefined) return false;
    if (this.now() < expires) return true;
    this.entries.delete(key);
    return false;
  }

  /** Records a successful verification. */
  remember(account: string, storedHash: string, password: string): void {
    if (this.ttlMs === 0) return;
    const key = this.key(account, storedHash, password);
    // Re-inserting moves the entry to the end: the order stays oldest first.
    this.entries.delete(key);
    this.entries.set(key, this.now() + this.ttlMs);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
