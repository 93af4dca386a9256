import type { Logger } from 'pino';
import type { RedisClient } from '../../shared/redis/connection';
import { DamagedKeyError, damagedRole } from '../../shared/redis/damaged-key-error';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import { parseCredential } from '../credentials/credential-store';
import { verdictApplies, type HeldVerdict } from './held-verdict';
import type { JournalEntry } from './journal';
import type { CachedCredential, LocalState } from './local-state';
import { attemptIdAliases } from './schedule';

/**
 * Recovery after Redis lost data (restarted without persistence, FLUSHALL with the
 * connections still open, a key deleted on its own): the one owner of putting back
 * what a node holds. Run before recording whenever the node sees the loss — the read
 * before an attempt, a reconnect, the recording's refusal, and the leader before it
 * writes a verdict — it writes back the credential the node last read, still encrypted
 * (over an older one too: credential order), its own latest record with the ids it
 * reflects (or the ids alone, when only they are gone), the project's members it last
 * saw, and the failed verdict it saw, so the project's view returns without a false
 * failure, without a new `register`, and without un-failing a failed project (R5).
 * Only what is missing or older is written (restore-after-loss-8.lua), so a live
 * project is never overwritten.
 *
 * The decisions (lossSeen, isNewerCredential) are pure functions; the write is the
 * script; Recovery.restore() is the one way to run it, and tells the agent
 * (`onRestored`): what went with the data and is not the node's to write back (its
 * schedule, the key ids it published) is the agent's.
 */

/** What the read before an attempt found in Redis, as far as a loss shows in it. */
export interface ProjectSeen {
  credential: Record<string, string>;
  status: Record<string, string>;
  nodeExists: boolean;
  /** The node's attempt-id set exists; omitted where the read does not look. */
  attemptIdsExist?: boolean;
  /** The project's members (id -> first-seen ms); omitted where the read does not take them. */
  members?: Record<string, number>;
}

type CredentialOrder = Pick<CachedCredential, 'generation' | 'registeredAt' | 'registration' | 'revisedAt'>;

/**
 * Credential order (R5, R9): the credential a node holds is newer than the stored one
 * when it is of another registration made later, or of the same registration with a
 * later ciphertext revision (`crypto switch`). A generation number decides only between
 * two registrations of unknown times: an emptied Redis numbers them from 1 again. The
 * same rule as restore-after-loss-8.lua.
 */
export function isNewerCredential(held: CredentialOrder, stored: CredentialOrder): boolean {
  if (held.registration !== stored.registration) {
    if (held.registeredAt && stored.registeredAt) return held.registeredAt > stored.registeredAt;
    return held.generation > stored.generation;
  }
  return held.revisedAt > stored.revisedAt;
}

/**
 * True when Redis lacks something this node holds: the credential (or holds an older
 * one than this node's), its record, the ids its record reflects, a member of the
 * project, or a failed verdict about the stored registration (a status about it that
 * is not `failed` is what a loss leaves: within one registration `failed` is sticky).
 */
export function lossSeen(seen: ProjectSeen, local: LocalState): boolean {
  const held = local.get();
  const stored = parseCredentialOrNull(seen.credential);
  const lostCredential =
    held.credential !== null && (Object.keys(seen.credential).length === 0 || (stored !== null && isNewerCredential(held.credential, stored)));
  const lostRecord = !seen.nodeExists && held.nodeRecord !== null;
  const lostIds = seen.nodeExists && seen.attemptIdsExist === false && held.recent.length > 0;
  const lostMember = seen.members !== undefined && Object.keys(held.members ?? {}).some((id) => !(id in (seen.members ?? {})));
  const lostVerdict = seen.status.status !== 'failed' && verdictApplies(held.verdict, stored);
  return lostCredential || lostRecord || lostIds || lostMember || lostVerdict;
}

const RESTORE_KEYS = ['credential', 'node', 'nodes', 'recovery', 'attempts', 'removed', 'status', 'events'] as const;
type RestoreKey = (typeof RESTORE_KEYS)[number];

/** What was put back ('credential', 'node', 'attempt-ids', 'status', 'members'), empty when nothing was missing; or the role of a damaged key. */
const RESTORE = new LuaScript({
  file: 'daemon/agent/lua/restore-after-loss-8.lua',
  keys: RESTORE_KEYS,
  args: ['nodeId', 'credentialJson', 'recordJson', 'firstSeenAt', 'heldIds', 'verdictJson', 'membersJson'],
  reply: (raw, check): { restored: string[] } | { damaged: RestoreKey } => {
    const role = damagedRole(raw);
    if (role === null) return { restored: check.strings(raw) };
    return { damaged: check.oneOf(role, RESTORE_KEYS) };
  },
});

/** The type the damaged key had. */
const DROP_DAMAGED = new LuaScript({
  file: 'daemon/agent/lua/drop-damaged-1.lua',
  keys: ['key'],
  args: ['type'],
  reply: (raw, check) => (typeof raw === 'string' ? raw : check.fail('a type name')),
});

/** Removes a key of the node's own that holds a value of the wrong type (the node then puts back what it holds); the type it had. */
export function dropDamagedKey(redis: RedisClient, key: string, type: 'hash' | 'list' | 'zset'): Promise<string> {
  return DROP_DAMAGED.run(redis, { key }, { type });
}

/** Keys of the node's own the restore checks, with their type: a damaged one is removed and put back. */
const OWN_RESTORE_KEYS: Partial<Record<RestoreKey, 'hash' | 'zset'>> = { node: 'hash', attempts: 'zset' };

/** The project's members as a node last saw them: node id -> first-seen ms (the nodes set's score). */
export type Members = Record<string, number>;

/** Everything a node holds that a restoration may put back. */
export interface Held {
  credential: CachedCredential | null;
  /** The node's record as the last recording returned it. */
  record: Record<string, string> | null;
  /** The results the record reflects (ids under every name, and times). */
  recent: ReadonlyArray<Pick<JournalEntry, 'attemptId' | 'atMs'>>;
  firstSeenAt: number;
  verdict: HeldVerdict | null;
  members?: Members | null;
}

function heldIds(held: Held): string {
  // Under every name the recording gave them (both names of a slot).
  return held.record && held.recent.length > 0 ? JSON.stringify(held.recent.flatMap((e) => attemptIdAliases(e.attemptId).map((id) => [id, e.atMs]))) : '';
}

/**
 * The write: puts back what is missing of `held` (restore-after-loss-8.lua). Returns
 * what was restored; throws DamagedKeyError (nothing written) when one of the keys has
 * the wrong type. Recovery.restore() is the agent's way in; tests of the script call
 * this directly.
 */
export async function restoreHeld(redis: RedisClient, keys: ProjectKeys, nodeId: string, held: Held): Promise<string[]> {
  const keyNames: Record<RestoreKey, string> = {
    credential: keys.credential,
    node: keys.node(nodeId),
    nodes: keys.nodes,
    recovery: keys.recovery,
    attempts: keys.attempts(nodeId),
    removed: keys.removed,
    status: keys.status,
    events: keys.events,
  };
  const reply = await RESTORE.run(redis, keyNames, {
    nodeId,
    credentialJson: held.credential ? JSON.stringify(held.credential) : '',
    recordJson: held.record ? JSON.stringify(held.record) : '',
    firstSeenAt: held.firstSeenAt,
    heldIds: heldIds(held),
    verdictJson: held.verdict ? JSON.stringify(held.verdict) : '',
    membersJson: held.members && Object.keys(held.members).length > 0 ? JSON.stringify(Object.entries(held.members)) : '',
  });
  if ('damaged' in reply) throw new DamagedKeyError(reply.damaged, keyNames[reply.damaged], RESTORE.file);
  return reply.restored;
}

export interface RecoveryOptions {
  redis: RedisClient;
  keys: ProjectKeys;
  nodeId: string;
  local: LocalState;
  log: Logger;
  /** Told once for each restoration that put something back (what, as restore() returns it). */
  onRestored(restored: string[]): void;
}

export class Recovery {
  constructor(private readonly o: RecoveryOptions) {}

  /** Puts back what is missing; returns what was restored (empty: nothing was lost). */
  async restore(): Promise<string[]> {
    const { redis, keys, nodeId, local, log } = this.o;
    const held = local.get();
    if (!held.credential && !held.nodeRecord && !held.members) return [];
    const what: Held = {
      credential: held.credential,
      record: held.nodeRecord,
      recent: held.recent,
      firstSeenAt: Number(held.nodeRecord?.lastAttemptAt ?? 0),
      verdict: verdictApplies(held.verdict, held.credential) ? held.verdict : null,
      members: held.members,
    };
    let restored: string[];
    try {
      restored = await restoreHeld(redis, keys, nodeId, what);
    } catch (error) {
      // A key of the node's own of the wrong type (SPEC §4): removed, then put back with the rest; a project key is named and left.
      const type = error instanceof DamagedKeyError ? OWN_RESTORE_KEYS[error.role as RestoreKey] : undefined;
      if (!(error instanceof DamagedKeyError) || !type) throw error;
      log.warn({ key: error.key, role: error.role }, 'A key of this node held a value of the wrong type: removed, and put back from what this node holds');
      await dropDamagedKey(redis, error.key, type);
      restored = await restoreHeld(redis, keys, nodeId, what);
    }
    if (restored.includes('superseded')) {
      log.error(
        { credentialRegisteredAt: held.credential?.registeredAt },
        'The stored credential is gone and Redis last had a later registration than the one this node holds: not restoring the older one; run `fdl-cloudauth register`',
      );
      restored = restored.filter((r) => r !== 'superseded');
    }
    if (restored.length > 0) {
      log.warn({ restored }, 'Redis had lost the project data: restored what this node holds (the failure history before the loss is gone)');
      this.o.onRestored(restored);
    }
    return restored;
  }
}

export function parseCredentialOrNull(hash: Record<string, string>): CachedCredential | null {
  try {
    return parseCredential(hash);
  } catch {
    return null;
  }
}
