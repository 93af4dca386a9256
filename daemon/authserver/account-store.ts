import type { RedisClient } from '../../shared/redis/connection';
import { LuaScript, type ReplyCheck } from '../../shared/redis/lua-script';

/**
 * The reference server's state in Redis, so a restart loses nothing:
 *
 *   <prefix>:authserver:{<account>}:account   hash: settings and the password hash
 *   <prefix>:authserver:{<account>}:bindings  hash: nodeKey -> JSON binding
 *
 * The account name is the hash tag: both keys of an account sit in one Cluster slot,
 * so the bind and unbind scripts may touch both.
 */

/** A bound node with no successful authentication for this long frees its slot (R10). */
export const RELEASE_AFTER_MS = 24 * 3600_000;

export const ACCOUNT_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

export type AccountStatus = 'active' | 'disabled';

export interface AccountSettings {
  readonly account: string;
  readonly capacity: number;
  readonly expiresAtMs: number;
  readonly status: AccountStatus;
  /** null: any. */
  readonly allowedIps: readonly string[] | null;
  readonly allowedDomains: readonly string[] | null;
  readonly allowedAppNames: readonly string[] | null;
  readonly allowedVersions: string | null;
}

export interface StoredAccount extends AccountSettings {
  readonly passwordHash: string;
}

export interface Binding {
  readonly nodeId: string;
  readonly project: string;
  readonly boundAtMs: number;
  readonly lastSuccessAtMs: number;
}

export type BindResult = { readonly status: 'passed' | 'full' | 'gone'; readonly bound: number };
export type UnbindResult = { readonly status: 'unbound' | 'not-bound'; readonly bound: number };

/** A stored account that cannot be read: a server-side problem, never the client's. */
export class CorruptAccountError extends Error {
  readonly code = 'ERR_CORRUPT_ACCOUNT';
  constructor(
    readonly account: string,
    readonly field: string,
  ) {
    super(`stored account has an unreadable field ${field}`);
    this.name = 'CorruptAccountError';
  }
}

/** [status, bound]: status 0 passed, 1 full, 2 gone (unbind: 0 unbound, 1 not bound). */
const statusAndCount = (raw: unknown, check: ReplyCheck): [number, number] => {
  const [status, count] = check.list(raw, 2);
  return [check.integer(status), check.integer(count)];
};

const BIND = new LuaScript({
  file: 'daemon/authserver/lua/bind-node-2.lua',
  keys: ['account', 'bindings'],
  args: ['node', 'nodeId', 'project', 'nowMs', 'releaseAfterMs', 'mode'],
  reply: statusAndCount,
});
const UNBIND = new LuaScript({
  file: 'daemon/authserver/lua/unbind-node-1.lua',
  keys: ['bindings'],
  args: ['node', 'nowMs', 'releaseAfterMs'],
  reply: statusAndCount,
});

const SAVE = new LuaScript({
  file: 'daemon/authserver/lua/save-account-1.lua',
  keys: ['account'],
  args: ['passwordHash'],
  variadic: true,
  reply: (raw, check) => check.integer(raw),
});

/** What a save did: `no-account` when it kept a password of an account that does not exist (nothing written). */
export type SaveResult = 'created' | 'replaced' | 'no-account';

/** Bindings are per node id within a project; JSON keeps the pair unambiguous. */
export function nodeKey(project: string, nodeId: string): string {
  return JSON.stringify([project, nodeId]);
}

function jsonList(raw: string | undefined, account: string, field: string): readonly string[] | null {
  if (raw === undefined || raw === '') return null;
  try {
    const value: unknown = JSON.parse(raw);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    /* reported below */
  }
  throw new CorruptAccountError(account, field);
}

export class AccountStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
  ) {}

  private keys(account: string): { account: string; bindings: string } {
    const base = `${this.keyPrefix}:authserver:{${account}}`;
    return { account: `${base}:account`, bindings: `${base}:bindings` };
  }

  /**
   * Creates or replaces an account's settings; its bindings are kept. A null password
   * hash keeps the stored one (an allow-list changed without the account's password).
   */
  async save(account: AccountSettings & { readonly passwordHash: string | null }, nowMs: number): Promise<SaveResult> {
    const fields: Record<string, string> = {
      account: account.account,
      capacity: String(account.capacity),
      expiresAt: String(account.expiresAtMs),
      status: account.status,
      updatedAt: String(nowMs),
    };
    if (account.allowedIps) fields.allowedIps = JSON.stringify(account.allowedIps);
    if (account.allowedDomains) fields.allowedDomains = JSON.stringify(account.allowedDomains);
    if (account.allowedAppNames) fields.allowedAppNames = JSON.stringify(account.allowedAppNames);
    if (account.allowedVersions !== null) fields.allowedVersions = account.allowedVersions;
    // One script: no reader sees the account half-written, and a kept password is the
    // one stored at that moment.
    const reply = await SAVE.run(
      this.redis,
      { account: this.keys(account.account).account },
      { passwordHash: account.passwordHash ?? '' },
      Object.entries(fields).flat(),
    );
    return reply === 1 ? 'created' : reply === 0 ? 'replaced' : 'no-account';
  }

  async get(account: string): Promise<StoredAccount | undefined> {
    const raw = await this.redis.hgetall(this.keys(account).account);
    if (!raw.account) return undefined;
    const capacity = Number(raw.capacity);
    const expiresAtMs = Number(raw.expiresAt);
    if (!Number.isInteger(capacity) || capacity < 0) throw new CorruptAccountError(account, 'capacity');
    if (!Number.isFinite(expiresAtMs)) throw new CorruptAccountError(account, 'expiresAt');
    if (raw.status !== 'active' && raw.status !== 'disabled') throw new CorruptAccountError(account, 'status');
    if (!raw.passwordHash) throw new CorruptAccountError(account, 'passwordHash');
    return {
      account,
      passwordHash: raw.passwordHash,
      capacity,
      expiresAtMs,
      status: raw.status,
      allowedIps: jsonList(raw.allowedIps, account, 'allowedIps'),
      allowedDomains: jsonList(raw.allowedDomains, account, 'allowedDomains'),
      allowedAppNames: jsonList(raw.allowedAppNames, account, 'allowedAppNames'),
      allowedVersions: raw.allowedVersions ?? null,
    };
  }

  /** Deletes an account and its bindings; false when it did not exist. */
  async delete(account: string): Promise<boolean> {
    const keys = this.keys(account);
    const removed = await this.redis.del(keys.account, keys.bindings);
    return removed > 0;
  }

  /** The live bindings (not released by the 24 h rule at `nowMs`), oldest first. */
  async bindings(account: string, nowMs: number): Promise<Binding[]> {
    const raw = await this.redis.hgetall(this.keys(account).bindings);
    const live: Binding[] = [];
    for (const text of Object.values(raw)) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue; // the bind script treats an unreadable binding as free, so do we
      }
      const lastSuccessAtMs = Number(parsed.lastSuccessAt);
      const boundAtMs = Number(parsed.boundAt);
      if (!Number.isFinite(lastSuccessAtMs) || lastSuccessAtMs + RELEASE_AFTER_MS <= nowMs) continue;
      live.push({ nodeId: String(parsed.nodeId), project: String(parsed.project), boundAtMs, lastSuccessAtMs });
    }
    return live.sort((a, b) => a.boundAtMs - b.boundAtMs || a.nodeId.localeCompare(b.nodeId));
  }

  /** Check-and-bind in one script; `write: false` only answers whether it would pass. */
  async bind(account: string, project: string, nodeId: string, nowMs: number, write: boolean): Promise<BindResult> {
    const keys = this.keys(account);
    const reply = await BIND.run(
      this.redis,
      { account: keys.account, bindings: keys.bindings },
      { node: nodeKey(project, nodeId), nodeId, project, nowMs, releaseAfterMs: RELEASE_AFTER_MS, mode: write ? 'bind' : 'check' },
    );
    const status = reply[0] === 0 ? 'passed' : reply[0] === 1 ? 'full' : 'gone';
    return { status, bound: reply[1] };
  }

  async unbind(account: string, project: string, nodeId: string, nowMs: number): Promise<UnbindResult> {
    const reply = await UNBIND.run(
      this.redis,
      { bindings: this.keys(account).bindings },
      { node: nodeKey(project, nodeId), nowMs, releaseAfterMs: RELEASE_AFTER_MS },
    );
    return { status: reply[0] === 0 ? 'unbound' : 'not-bound', bound: reply[1] };
  }

  async ping(): Promise<boolean> {
    return (await this.redis.ping()) === 'PONG';
  }
}
