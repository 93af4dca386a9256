import type { Logger } from 'pino';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { parseCredential } from '../credentials/credential-store';
import { restoreAfterLoss } from './restore-after-loss';
import { verdictApplies } from './held-verdict';
import type { CachedCredential, LocalState } from './local-state';

/**
 * Recovery after Redis lost its data (restarted without persistence, FLUSHALL with the
 * connections still open): a step of its own, run before recording whenever the node
 * sees the loss. The node writes back what it holds — the credential it last read,
 * still encrypted (over an older one too: generation order), its own latest record with
 * the ids it reflects, the project's members it last saw, and the failed verdict it
 * saw — so the project's view returns without a false failure, without a
 * new `register`, and without un-failing a failed project (R5). Only what is missing is
 * written (restore-after-loss-8.lua), so a live project is never overwritten.
 *
 * Every restoration goes through restore() — the flow's recovery step, and the one
 * recording runs when it finds the node's record gone — so this is the one place that
 * tells the agent Redis lost data (`onRestored`): what went with the data and is not
 * the node's to write back (its schedule, the key ids it published) is the agent's.
 */

/** What the read before an attempt found in Redis, as far as a loss shows in it. */
export interface ProjectSeen {
  credential: Record<string, string>;
  status: Record<string, string>;
  nodeExists: boolean;
  /** The project's members (id -> first-seen ms); omitted where the read does not take them. */
  members?: Record<string, number>;
}

/**
 * Generation order (R5): the credential a node holds is newer than the stored one when
 * both its generation and its registration time say so (a generation count that
 * started again, after a register into an empty Redis, is not taken for older).
 * The same rule as restore-after-loss-8.lua.
 */
export function isNewerCredential(
  held: Pick<CachedCredential, 'generation' | 'registeredAt'>,
  stored: Pick<CachedCredential, 'generation' | 'registeredAt'>,
): boolean {
  if (!(held.generation > stored.generation)) return false;
  return !held.registeredAt || !stored.registeredAt || held.registeredAt > stored.registeredAt;
}

/**
 * True when Redis lacks something this node holds: the credential (or holds an older
 * one than this node's: a node that was down during a re-registration restored it
 * first), its record, a member of the project, or a failed verdict about the stored
 * credential (a status about it that is not `failed` is what a loss leaves: within one
 * registration `failed` is sticky).
 */
export function lossSeen(seen: ProjectSeen, local: LocalState): boolean {
  const held = local.get();
  const stored = parseCredentialOrNull(seen.credential);
  const lostCredential =
    held.credential !== null && (Object.keys(seen.credential).length === 0 || (stored !== null && isNewerCredential(held.credential, stored)));
  const lostRecord = !seen.nodeExists && held.nodeRecord !== null;
  const lostMember = seen.members !== undefined && Object.keys(held.members ?? {}).some((id) => !(id in (seen.members ?? {})));
  const lostVerdict = seen.status.status !== 'failed' && verdictApplies(held.verdict, stored);
  return lostCredential || lostRecord || lostMember || lostVerdict;
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
    const restored = await restoreAfterLoss(redis, keys, nodeId, {
      credential: held.credential,
      record: held.nodeRecord,
      recent: held.recent,
      firstSeenAt: Number(held.nodeRecord?.lastAttemptAt ?? 0),
      verdict: verdictApplies(held.verdict, held.credential) ? held.verdict : null,
      members: held.members,
    });
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
