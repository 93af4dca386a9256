/**
 * Counts wrong passwords per key (an account, a source address) in a sliding window
 * and says how long a key is blocked once it has reached its limit. A blocked
 * request is answered before any password hash is computed: each wrong password
 * costs a full scrypt on libuv's small thread pool, which is what made a flood of
 * wrong passwords expensive.
 *
 * A check in progress holds a reservation that counts as a failure until it ends
 * (reserve), so many wrong passwords sent at once cannot all pass the check before
 * the first of them is counted: at most `maxFailures` are ever evaluated per window.
 *
 * Memory is bounded: at most `maxKeys` keys are tracked; when full, the key whose
 * latest failure is oldest is forgotten first (Map keeps insertion order and a key is
 * re-inserted on each failure).
 */
export interface FailureLimiterOptions {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly maxKeys?: number;
  /** Monotonic milliseconds; injected by tests. */
  readonly now?: () => number;
}

export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly pending = new Map<string, number>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly o: FailureLimiterOptions) {
    if (!Number.isInteger(o.maxFailures) || o.maxFailures < 1) throw new RangeError('maxFailures must be a positive integer');
    if (!(o.windowMs > 0)) throw new RangeError('windowMs must be positive');
    this.now = o.now ?? (() => performance.now());
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  private recent(key: string): number[] {
    const since = this.now() - this.o.windowMs;
    const list = (this.failures.get(key) ?? []).filter((t) => t > since);
    if (list.length === 0) this.failures.delete(key);
    return list;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  blockedForMs(key: string): number {
    const list = this.recent(key);
    const pending = this.pending.get(key) ?? 0;
    if (list.length + pending < this.o.maxFailures) return 0;
    // Full only with checks in progress: they end within a hash's time.
    if (list.length < this.o.maxFailures) return 1000;
    const oldest = list[list.length - this.o.maxFailures] as number;
    return Math.max(1, Math.ceil(oldest + this.o.windowMs - this.now()));
  }

  recordFailure(key: string): void {
    const list = this.recent(key);
    list.push(this.now());
    this.failures.delete(key);
    this.failures.set(key, list.slice(-this.o.maxFailures));
    while (this.failures.size > this.maxKeys) {
      const oldestKey = this.failures.keys().next().value as string;
      this.failures.delete(oldestKey);
    }
  }

  /**
   * Holds a slot while a password is checked; the returned function frees it (call it
   * once the check ended, before recordFailure or recordSuccess).
   */
  reserve(key: string): () => void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.pending.get(key) ?? 1) - 1;
      if (left > 0) this.pending.set(key, left);
      else this.pending.delete(key);
    };
  }

  /** A right password clears the key's count (an operator who mistyped once is not held to it). */
  recordSuccess(key: string): void {
    this.failures.delete(key);
  }
}
