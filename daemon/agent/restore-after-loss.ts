import type { RedisClient } from '../../shared/redis/connection';
import { DamagedKeyError, damagedRole } from '../../shared/redis/damaged-key-error';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import type { HeldVerdict } from './held-verdict';
import { attemptIdAliases } from './schedule';

/**
 * The recovery step's write (restore-after-loss-8.lua): what a node holds, put back
 * where Redis lost it — the credential (over an older one too: generation order), its
 * record with the ids it reflects, the project's members and its failed verdict.
 */

/**
 * What the node holds of its own record: the record as the last recording returned it,
 * and the ids and times of the results it reflects. Put back by the recovery step if
 * Redis lost it.
 */
export interface Held {
  record: Record<string, string> | null;
  recent: ReadonlyArray<{ attemptId: string; atMs: number }>;
}

function heldIds(held: Held): string {
  // Under every name the recording gave them (both names of a slot).
  return held.record && held.recent.length > 0 ? JSON.stringify(held.recent.flatMap((e) => attemptIdAliases(e.attemptId).map((id) => [id, e.atMs]))) : '';
}

const RESTORE_KEYS = ['credential', 'node', 'nodes', 'recovery', 'attempts', 'removed', 'status', 'events'] as const;
type RestoreKey = (typeof RESTORE_KEYS)[number];

/** What was put back ('credential', 'node', 'status', 'members'), empty when nothing was missing; or the role of a damaged key. */
const RESTORE = new LuaScript({
  file: 'daemon/agent/lua/restore-after-loss-8.lua',
  keys: RESTORE_KEYS,
  args: ['nodeId', 'credentialJson', 'recordJson', 'firstSeenAt', 'heldIds', 'verdictJson', 'membersJson'],
  reply: (raw, check): { restored: string[] } | { damaged: RestoreKey } => {
    const role = damagedRole(raw);
    if (role === null) return { restored: check.strings(raw) };
    if (!(RESTORE_KEYS as readonly string[]).includes(role)) check.fail('a known key role');
    return { damaged: role as RestoreKey };
  },
});

/** The project's members as a node last saw them: node id -> first-seen ms (the nodes set's score). */
export type Members = Record<string, number>;

/**
 * After Redis lost its data: writes back the credential (where missing or older), the
 * node record this node holds and the members it saw, where they are missing, and the
 * failed verdict it holds for that credential. Returns what was restored; throws
 * DamagedKeyError (nothing written) when one of the keys has the wrong type.
 */
export async function restoreAfterLoss(
  redis: RedisClient,
  keys: ProjectKeys,
  nodeId: string,
  held: Held & { credential: object | null; firstSeenAt: number; verdict: HeldVerdict | null; members?: Members | null },
): Promise<string[]> {
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
