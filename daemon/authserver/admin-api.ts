import { Codes } from '../../shared/catalog';
import type { OffsetClock } from '../../shared/clock';
import type { Logger } from '../../shared/logger';
import { business, httpError, ok, type Answer } from './answer';
import { parseAccountRequest } from './account-request';
import { ACCOUNT_NAME, type AccountStore } from './account-store';
import { parseFaultRequest, type FaultInjector } from './fault-injector';
import { hashPassword } from './password-hash';
import type { VerifiedPasswordCache } from './verified-password-cache';

/**
 * The reference server's administration (SPEC §5), behind the bearer token checked by
 * the HTTP layer: accounts, injected faults, and the server clock offset (so a test
 * running the server as a separate process can exercise the 24 h release).
 * Answers never contain a password or its hash.
 */
export interface AdminApiOptions {
  store: AccountStore;
  faults: FaultInjector;
  clock: OffsetClock;
  logger: Logger;
  /**
   * The protocol's cache of verified passwords: a password just set is known to match
   * the hash just made from it, so the account's first authentications need no scrypt
   * (N = 2^17 takes seconds on a loaded machine, longer than a 1 s heartbeat's budget).
   */
  verifiedPasswords?: VerifiedPasswordCache;
  /** authserver.passwordHashCost (log2 of scrypt's N); the default's when not given. */
  passwordHashCost?: number;
}

const MAX_OFFSET_MS = 10 * 365 * 24 * 3600_000;

export class AdminApi {
  constructor(private readonly options: AdminApiOptions) {}

  async saveAccount(body: unknown): Promise<Answer> {
    const parsed = parseAccountRequest(body);
    const account =
      typeof body === 'object' && body !== null && typeof (body as { account?: unknown }).account === 'string'
        ? (body as { account: string }).account.slice(0, 64)
        : undefined;
    if (!parsed.ok) return business(Codes.PARAM_INPUT_ERROR, parsed.problems.join('; '), undefined, { account });
    const { password, ...settings } = parsed.value;
    const passwordHash = password === null ? null : await hashPassword(password, this.options.passwordHashCost);
    const result = await this.options.store.save({ ...settings, passwordHash }, this.options.clock.now());
    if (result === 'no-account') {
      return business(
        Codes.PARAM_INPUT_ERROR,
        `password is required to create account ${settings.account} (omit it only to keep an existing account's)`,
        undefined,
        {
          account,
        },
      );
    }
    const created = result === 'created';
    if (password !== null && passwordHash !== null) this.options.verifiedPasswords?.remember(settings.account, passwordHash, password);
    this.options.logger.info(
      { account: settings.account, created, passwordKept: password === null, capacity: settings.capacity, status: settings.status },
      'account saved',
    );
    const message = created ? 'account created' : password === null ? 'account replaced; bindings kept; password kept' : 'account replaced; bindings kept';
    return ok(message, { ...(await this.view(settings.account)), created }, { account: settings.account });
  }

  private async view(account: string): Promise<Record<string, unknown> | undefined> {
    const stored = await this.options.store.get(account);
    if (!stored) return undefined;
    const bound = await this.options.store.bindings(account, this.options.clock.now());
    return {
      account: stored.account,
      capacity: stored.capacity,
      status: stored.status,
      expiresAt: new Date(stored.expiresAtMs).toISOString(),
      allowedIps: stored.allowedIps,
      allowedDomains: stored.allowedDomains,
      allowedAppNames: stored.allowedAppNames,
      allowedVersions: stored.allowedVersions,
      bound: bound.map((b) => ({
        nodeId: b.nodeId,
        project: b.project,
        boundAt: new Date(b.boundAtMs).toISOString(),
        lastSuccessAt: new Date(b.lastSuccessAtMs).toISOString(),
      })),
    };
  }

  private static checkName(account: string): Answer | undefined {
    return ACCOUNT_NAME.test(account) ? undefined : business(Codes.PARAM_INPUT_ERROR, 'account must be 1-64 letters, digits, ".", "_", "-" or "@"');
  }

  async getAccount(account: string): Promise<Answer> {
    const bad = AdminApi.checkName(account);
    if (bad) return bad;
    const view = await this.view(account);
    if (!view) return httpError(404, 'ACCOUNT_NOT_FOUND', `no account named ${account}`, { account });
    return { kind: 'json', status: 200, body: { code: 0, name: 'OK', message: 'account found', data: view }, context: { account } };
  }

  async deleteAccount(account: string): Promise<Answer> {
    const bad = AdminApi.checkName(account);
    if (bad) return bad;
    const removed = await this.options.store.delete(account);
    if (!removed) return httpError(404, 'ACCOUNT_NOT_FOUND', `no account named ${account}`, { account });
    this.options.logger.info({ account }, 'account deleted');
    return ok('account deleted', undefined, { account });
  }

  addFault(body: unknown): Answer {
    const parsed = parseFaultRequest(body);
    if (!parsed.ok) return business(Codes.PARAM_INPUT_ERROR, parsed.problems.join('; '));
    const fault = this.options.faults.add(parsed.value);
    this.options.logger.warn({ fault }, 'fault injected');
    return ok('fault injected', { fault, faults: this.options.faults.list() });
  }

  listFaults(): Answer {
    return ok('active faults', { faults: this.options.faults.list() });
  }

  clearFaults(): Answer {
    const cleared = this.options.faults.clear();
    this.options.logger.info({ cleared }, 'faults cleared');
    return ok('faults cleared', { cleared });
  }

  private clockView(): Record<string, unknown> {
    return { offsetMs: this.options.clock.offsetMs, now: new Date(this.options.clock.now()).toISOString() };
  }

  getClock(): Answer {
    return ok('server clock', this.clockView());
  }

  setClock(body: unknown): Answer {
    const offset = typeof body === 'object' && body !== null ? (body as { offsetMs?: unknown }).offsetMs : undefined;
    if (typeof offset !== 'number' || !Number.isInteger(offset) || Math.abs(offset) > MAX_OFFSET_MS) {
      return business(Codes.PARAM_INPUT_ERROR, `offsetMs must be a whole number of milliseconds within ±${MAX_OFFSET_MS}`);
    }
    this.options.clock.offsetMs = offset;
    this.options.logger.warn({ offsetMs: offset }, 'server clock offset set');
    return ok('server clock offset set', this.clockView());
  }
}
