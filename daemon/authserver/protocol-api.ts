import { setTimeout as sleep } from 'node:timers/promises';
import { Codes } from '../../shared/catalog';
import type { Clock } from '../../shared/clock';
import type { Logger } from '../../shared/logger';
import { business, ok, type Answer, type AnswerContext } from './answer';
import { CorruptAccountError, type AccountStore, type StoredAccount } from './account-store';
import type { FaultInjector } from './fault-injector';
import { checkLicense } from './license-checks';
import { dummyHash, verifyPassword } from './password-hash';
import { parseAuthenticateRequest, parseUnbindRequest, peekAccount, peekNodeId, peekRequestId } from './protocol-request';
import { VerifiedPasswordCache } from './verified-password-cache';
import type { FailureLimiter } from '../http/failure-limiter';

/**
 * Protocol v1 (SPEC §5): authenticate and unbind. Checks run in the order of the
 * spec and the first failure is answered:
 * 10000 → 10001 → 30006 → 30002 → 30000 → 30001 → 30003 → 30004 → 30005 → 30007 →
 * the server's own writes (20001, 20002). 10000 is answered by the HTTP layer, which
 * parses the body; everything from 10001 on is here.
 */
export interface ProtocolApiOptions {
  store: AccountStore;
  faults: FaultInjector;
  clock: Clock;
  logger: Logger;
  /** Remembers recent successful password checks; a 60 s cache unless given. */
  verifiedPasswords?: VerifiedPasswordCache;
  /** Wrong-password limits per account and per source address; none when not given. */
  limits?: { readonly account: FailureLimiter; readonly address: FailureLimiter };
  /** authserver.passwordHashCost: an unknown account's dummy check costs what a real one does. */
  passwordHashCost?: number;
}

type Authorization =
  | { readonly kind: 'ok'; readonly account: StoredAccount }
  | { readonly kind: 'denied' }
  | { readonly kind: 'throttled'; readonly retryAfterMs: number; readonly by: 'account' | 'address' };

/**
 * Too many wrong passwords: the protocol's 30006 (the caller is not authorized now),
 * with HTTP 429 and Retry-After so that a client reading the status knows to wait.
 */
function throttled(retryAfterMs: number, by: 'account' | 'address', context: AnswerContext): Answer {
  const seconds = Math.ceil(retryAfterMs / 1000);
  const what = by === 'account' ? 'for this account' : 'from this address';
  return {
    kind: 'json',
    status: 429,
    body: { code: Codes.ACCOUNT_INPUT_ERROR, name: 'ACCOUNT_INPUT_ERROR', message: `too many wrong passwords ${what}: try again in ${seconds} s` },
    headers: { 'retry-after': String(seconds) },
    context,
  };
}

/** A Redis failure while answering is the server's own cache failing: 20002, retryable. */
class StoreUnavailable extends Error {}

export class ProtocolApi {
  private readonly verified: VerifiedPasswordCache;
  /** Hashes in progress, by the verified cache's key of account, stored hash and password. */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(private readonly options: ProtocolApiOptions) {
    this.verified = options.verifiedPasswords ?? new VerifiedPasswordCache();
  }

  /** Transport faults hit before any check, so they never change state. */
  private async transportFault(body: unknown, context: AnswerContext): Promise<Answer | undefined> {
    const nodeId = peekNodeId(body);
    const delay = this.options.faults.delayFor(nodeId);
    if (delay > 0) {
      this.options.logger.debug({ nodeId, ms: delay }, 'injected delay started');
      await sleep(delay);
    }
    const fault = this.options.faults.transportFault(nodeId);
    if (fault === 'reset') return { kind: 'reset', context };
    if (fault === 'malformed') return { kind: 'malformed', context };
    if (fault === 'http500') {
      return { kind: 'json', status: 500, body: { code: 500, name: 'INTERNAL_ERROR', message: 'injected fault: internal server error' }, context };
    }
    return undefined;
  }

  private async store<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof CorruptAccountError) throw error;
      this.options.logger.warn({ err: error }, 'Redis call failed while answering');
      throw new StoreUnavailable();
    }
  }

  /**
   * 30006 for an unknown account or a wrong password, in the same time either way;
   * a blocked account or address is answered before any hash is computed.
   */
  private async authorize(account: string, password: string, source: string): Promise<Authorization> {
    const blocked = this.blocked(account, source);
    if (blocked) return blocked;
    const stored = await this.store(() => this.options.store.get(account));
    // A hit needs the right password: it tells the caller nothing it did not know, and is not a guess.
    if (stored && this.verified.has(account, stored.passwordHash, password)) return { kind: 'ok', account: stored };
    // The same password for the same account being hashed already (many nodes of one
    // account starting at once): wait for that hash instead of counting another check.
    const key = stored ? this.verified.keyOf(account, stored.passwordHash, password) : undefined;
    const shared = key === undefined ? undefined : this.inFlight.get(key);
    if (stored && shared) return (await shared) ? { kind: 'ok', account: stored } : { kind: 'denied' };

    // Checked again and a slot reserved with no await in between: requests sent at once
    // each see the others' slots, so no more than the limit are ever hashed in a window.
    const blockedNow = this.blocked(account, source);
    if (blockedNow) return blockedNow;
    const limits = this.options.limits;
    const releaseAddress = limits?.address.reserve(source);
    const releaseAccount = limits?.account.reserve(account);
    const hashing = (async () => verifyPassword(password, stored?.passwordHash ?? (await dummyHash(this.options.passwordHashCost))))();
    if (key !== undefined) this.inFlight.set(key, hashing);
    let matches: boolean;
    try {
      matches = await hashing;
    } finally {
      if (key !== undefined) this.inFlight.delete(key);
      releaseAddress?.();
      releaseAccount?.();
    }
    if (!stored || !matches) {
      limits?.address.recordFailure(source);
      limits?.account.recordFailure(account);
      return { kind: 'denied' };
    }
    // Only the account's count is cleared: a right password of one's own account must
    // not reset the count of an address that is guessing others'.
    limits?.account.recordSuccess(account);
    this.verified.remember(account, stored.passwordHash, password);
    return { kind: 'ok', account: stored };
  }

  private blocked(account: string, source: string): Authorization | undefined {
    const limits = this.options.limits;
    if (!limits) return undefined;
    const byAddress = limits.address.blockedForMs(source);
    if (byAddress > 0) return { kind: 'throttled', retryAfterMs: byAddress, by: 'address' };
    const byAccount = limits.account.blockedForMs(account);
    if (byAccount > 0) return { kind: 'throttled', retryAfterMs: byAccount, by: 'account' };
    return undefined;
  }

  /** `source` is the client's address, for the per-address limit. */
  async authenticate(body: unknown, source = ''): Promise<Answer> {
    const context: AnswerContext = { account: peekAccount(body), nodeId: peekNodeId(body), requestId: peekRequestId(body) };
    const faulted = await this.transportFault(body, context);
    if (faulted) return faulted;

    const parsed = parseAuthenticateRequest(body);
    if (!parsed.ok) return business(Codes.PARAM_INPUT_ERROR, parsed.problems.join('; '), undefined, context);
    const request = parsed.value;
    try {
      const authorization = await this.authorize(request.account, request.password, source);
      if (authorization.kind === 'throttled') return throttled(authorization.retryAfterMs, authorization.by, context);
      if (authorization.kind === 'denied') return business(Codes.ACCOUNT_INPUT_ERROR, undefined, undefined, context);
      const account = authorization.account;

      const now = this.options.clock.now();
      const failure = checkLicense(account, { ...request.node, version: request.version }, now);
      if (failure) return business(failure.code, failure.message, undefined, context);

      const writeFault = this.options.faults.writeFault(request.node.id);
      const result = await this.store(() => this.options.store.bind(request.account, request.project, request.node.id, now, writeFault === undefined));
      if (result.status === 'gone') return business(Codes.ACCOUNT_INPUT_ERROR, undefined, undefined, context);
      if (result.status === 'full') {
        return business(Codes.REGISTER_OUT_OF_LIMIT, `all ${account.capacity} registration slots of the account are taken`, undefined, context);
      }
      if (writeFault === 'mysql') return business(Codes.MYSQL_UPDATE_ERROR, 'injected fault: the server failed to update its database', undefined, context);
      if (writeFault === 'redis') return business(Codes.REDIS_UPDATE_ERROR, 'injected fault: the server failed to write its cache', undefined, context);

      return ok(
        'authenticated',
        {
          licenseExpiresAt: new Date(account.expiresAtMs).toISOString(),
          capacity: account.capacity,
          bound: result.bound,
          serverTime: new Date(now).toISOString(),
        },
        context,
      );
    } catch (error) {
      if (error instanceof StoreUnavailable) return business(Codes.REDIS_UPDATE_ERROR, 'the server could not reach its cache', undefined, context);
      throw error;
    }
  }

  async unbind(body: unknown, source = ''): Promise<Answer> {
    const context: AnswerContext = { account: peekAccount(body), nodeId: peekNodeId(body) };
    const parsed = parseUnbindRequest(body);
    if (!parsed.ok) return business(Codes.PARAM_INPUT_ERROR, parsed.problems.join('; '), undefined, context);
    const request = parsed.value;
    try {
      const authorization = await this.authorize(request.account, request.password, source);
      if (authorization.kind === 'throttled') return throttled(authorization.retryAfterMs, authorization.by, context);
      if (authorization.kind === 'denied') return business(Codes.ACCOUNT_INPUT_ERROR, undefined, undefined, context);
      const account = authorization.account;
      const now = this.options.clock.now();
      const result = await this.store(() => this.options.store.unbind(request.account, request.project, request.nodeId, now));
      if (result.status === 'not-bound') return business(Codes.DO_NOT_NEED_DEACTIVATE, undefined, undefined, context);
      return ok('node unbound', { bound: result.bound, capacity: account.capacity }, context);
    } catch (error) {
      if (error instanceof StoreUnavailable) return business(Codes.REDIS_UPDATE_ERROR, 'the server could not reach its cache', undefined, context);
      throw error;
    }
  }
}
