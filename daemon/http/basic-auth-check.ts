import { createHash } from 'node:crypto';
import { BcryptPool, PasswordCheckBusy } from './bcrypt-pool';
import { FailureLimiter } from './failure-limiter';

/**
 * Basic auth against bcrypt hashes, limited so that guessing is slow and expensive for
 * the guesser but the right credentials are never locked out:
 *
 * - Every result is remembered by a digest of user, password and hash (bounded, the
 *   oldest first out, rights and wrongs apart), as exporter-toolkit does: Prometheus'
 *   password, once verified, costs no bcrypt again, and repeating a wrong password (a
 *   second Prometheus with an old one behind the same NAT) is answered 401 without
 *   another bcrypt and is not a new guess, so it never blocks anyone.
 * - Identical checks in progress are shared: 150 scrapes sent at once cost one bcrypt.
 * - New wrong passwords are counted per source address *and* user name, known or not
 *   (the limiter answers alike for both, so it tells no one which names exist), with a slot reserved before the bcrypt so that
 *   concurrent guesses cannot pass the limit. A right password clears its key.
 * - Past the limit, a key's passwords are still checked, one per second (others get
 *   429 and Retry-After: 1): once the wrong ones stop, the right one gets in at its
 *   next try and clears the key, while a guesser who keeps going is held to one guess
 *   a second per address and user — and so, while he does, may be the right client
 *   sharing both (docs/security.md).
 *
 * - The bcrypt comparison itself runs in a worker thread, one at a time, from a bounded
 *   queue (bcrypt-pool.ts): when the queue is full the answer is 429 with Retry-After
 *   ('busy'), and the event loop never computes a hash.
 *
 * The worker (and bcryptjs in it) is started by the first check: most sidecars have no
 * basic_auth_users.
 */
export interface BasicAuthLimits {
  /** New wrong passwords allowed per address and user per window (default 30 per 5 min). */
  readonly perAddressAndUser: number;
  readonly windowMs: number;
  /** Past the limit, one check per key per this long (default 1 s). */
  readonly blockedCheckEveryMs: number;
}

export const DEFAULT_BASIC_AUTH_LIMITS: BasicAuthLimits = Object.freeze({ perAddressAndUser: 30, windowMs: 5 * 60_000, blockedCheckEveryMs: 1000 });

export type CheckResult =
  | { readonly kind: 'ok' }
  | { readonly kind: 'wrong' }
  | { readonly kind: 'throttled'; readonly retryAfterMs: number }
  | { readonly kind: 'busy'; readonly retryAfterMs: number };

// Retry-After of a check refused because the queue of checks is full.
const BUSY_RETRY_MS = 1000;
const BUSY: CheckResult = Object.freeze({ kind: 'busy', retryAfterMs: BUSY_RETRY_MS });

// Separate bounds: a guesser's many wrong passwords never push out a right one.
const REMEMBERED_RIGHT = 256;
const REMEMBERED_WRONG = 1024;

/** The cost of the configured hashes (an unknown user is compared at it); 10, htpasswd's, when none. */
function costOf(users: ReadonlyMap<string, string>): number {
  const first = users.values().next();
  const match = first.done ? null : /^\$2[aby]?\$(\d\d)\$/.exec(first.value);
  return match?.[1] ? Number(match[1]) : 10;
}

export class BasicAuthCheck {
  private readonly right = new Set<string>();
  private readonly wrong = new Set<string>();
  private readonly inFlight = new Map<string, Promise<'ok' | 'wrong' | 'busy'>>();
  private readonly lastBlockedCheck = new Map<string, number>();
  private readonly failures: FailureLimiter;
  private readonly now: () => number;

  constructor(
    private readonly limits: BasicAuthLimits = DEFAULT_BASIC_AUTH_LIMITS,
    now?: () => number,
    private readonly pool: BcryptPool = new BcryptPool(),
  ) {
    this.now = now ?? (() => performance.now());
    this.failures = new FailureLimiter({ maxFailures: limits.perAddressAndUser, windowMs: limits.windowMs, now: this.now });
  }

  private static digest(user: string, password: string, hash: string): string {
    return createHash('sha256').update(`${user}\u0000${password}\u0000${hash}`).digest('hex');
  }

  private remember(digest: string, ok: boolean): void {
    const set = ok ? this.right : this.wrong;
    set.delete(digest);
    set.add(digest);
    if (set.size > (ok ? REMEMBERED_RIGHT : REMEMBERED_WRONG)) set.delete(set.values().next().value as string);
  }

  private async compare(password: string, hash: string | undefined, cost: number, source: string): Promise<'ok' | 'wrong' | 'busy'> {
    try {
      return (await this.pool.compare(password, hash, cost, source)) && Boolean(hash) ? 'ok' : 'wrong';
    } catch (error) {
      if (error instanceof PasswordCheckBusy) return 'busy';
      throw error;
    }
  }

  /** Stops the worker thread. */
  close(): Promise<void> {
    return this.pool.close();
  }

  async check(users: ReadonlyMap<string, string>, user: string, password: string, source: string): Promise<CheckResult> {
    const hash = users.get(user);
    const digest = BasicAuthCheck.digest(user, password, hash ?? '');
    // A password known wrong, or one being checked, tells its sender nothing new.
    if (this.wrong.has(digest)) return { kind: 'wrong' };
    const shared = this.inFlight.get(digest);
    if (shared) {
      const kind = await shared;
      return kind === 'busy' ? BUSY : { kind };
    }

    // Every name has its own count, known or not: a shared count for unknown names made
    // them answer 429 where a real name still answered 401 (names could be enumerated).
    const key = `${source}\n${user}`;
    let release: () => void = () => undefined;
    if (this.failures.blockedForMs(key) > 0) {
      // Even a remembered right password waits for the key's next slot: answering it at
      // once would let a guesser test passwords against the memory at network speed.
      const last = this.lastBlockedCheck.get(key);
      if (last !== undefined && this.now() - last < this.limits.blockedCheckEveryMs)
        return { kind: 'throttled', retryAfterMs: this.limits.blockedCheckEveryMs };
      this.lastBlockedCheck.set(key, this.now());
      if (this.lastBlockedCheck.size > 10_000) this.lastBlockedCheck.delete(this.lastBlockedCheck.keys().next().value as string);
    } else {
      if (this.right.has(digest)) return { kind: 'ok' };
      release = this.failures.reserve(key);
    }
    if (this.right.has(digest)) {
      this.failures.recordSuccess(key);
      this.lastBlockedCheck.delete(key);
      return { kind: 'ok' };
    }

    const running = this.compare(password, hash, costOf(users), source);
    this.inFlight.set(digest, running);
    let kind: 'ok' | 'wrong' | 'busy';
    try {
      kind = await running;
    } finally {
      this.inFlight.delete(digest);
      release();
    }
    // Not checked: neither remembered nor counted (the reservation is released above).
    if (kind === 'busy') return BUSY;
    const ok = kind === 'ok';
    this.remember(digest, ok);
    if (ok) {
      this.failures.recordSuccess(key);
      this.lastBlockedCheck.delete(key);
    } else this.failures.recordFailure(key);
    return { kind: ok ? 'ok' : 'wrong' };
  }
}
