import type { Config } from '../../shared/config/load';
import { Codes } from '../../shared/catalog';
import type { RedisClient } from '../../shared/redis/connection';
import { DamagedKeyError, damagedRole } from '../../shared/redis/damaged-key-error';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import { AuthClient } from '../protocol/auth-client';
import { classify, type Outcome } from '../protocol/classify';
import { decryptCredential, type StoredCredential } from './credential-store';

/**
 * Unbinding a node (`fdl-cloudauth unbind`): frees its slot on the authorization
 * server (protocol v1 /v1/unbind, with the project's credential), then takes it out of
 * the project's view (remove-node-6.lua, which also brings the slot count the other
 * records hold up to date) and has its heartbeat schedule dropped (by
 * the agent's scheduler, handed in as `removeSchedule`), so a migrated node neither
 * holds a slot nor shows as stale. The server is asked first: when it refuses, nothing
 * in Redis changes.
 */
export const REMOVE_NODE = new LuaScript({
  file: 'daemon/credentials/lua/remove-node-6.lua',
  keys: ['nodes', 'node', 'attempts', 'history', 'removed', 'events'],
  args: ['nodeId', 'historyRetentionS', 'nodePrefix', 'bound'],
  // 1 when the node was part of the project; the role of a key of the wrong type (nothing written).
  reply: (raw, check): boolean | { damaged: 'nodes' | 'removed' } => {
    const role = damagedRole(raw);
    if (role !== null) return { damaged: check.oneOf(role, ['nodes', 'removed'] as const) };
    return check.integer(raw) === 1;
  },
});

/** An unbound node's failure history stays this long, for `failures --node`. */
const HISTORY_RETENTION_S = 30 * 86_400;

export type UnbindResult =
  /** The server refused: nothing was changed. */
  | { done: false; outcome: Extract<Outcome, { ok: false }> }
  /** The slot is free (`notBound`: it was not bound to begin with); `wasMember`: the node left the project's view. */
  | { done: true; notBound: boolean; wasMember: boolean };

export interface UnbindOptions {
  redis: RedisClient;
  keys: ProjectKeys;
  authServer: Config['authServer'];
  keyDir: string;
  credential: StoredCredential;
  nodeId: string;
  /** Drops the node's heartbeat schedule, so no leftover job binds it again (the agent's `removeNodeSchedule`). */
  removeSchedule: () => Promise<void>;
  /** What could not be done after the node was unbound (the schedule left behind). */
  warn: (error: Error, what: string) => void;
}

export async function unbindNode(o: UnbindOptions): Promise<UnbindResult> {
  const password = decryptCredential(o.credential, o.keyDir);
  const client = new AuthClient(o.authServer);
  let outcome: Outcome;
  try {
    outcome = classify(await client.post('/v1/unbind', { account: o.credential.account, password, project: o.keys.project, nodeId: o.nodeId }));
  } finally {
    await client.close();
  }
  const notBound = !outcome.ok && outcome.code === Codes.DO_NOT_NEED_DEACTIVATE;
  if (!outcome.ok && !notBound) return { done: false, outcome };
  const { keys, nodeId } = o;
  const removeKeys = {
    nodes: keys.nodes,
    node: keys.node(nodeId),
    attempts: keys.attempts(nodeId),
    history: keys.history(nodeId),
    removed: keys.removed,
    events: keys.events,
  };
  // The slots the server counts now, for the other records' license (status shows it at
  // once): its answer's count, one less when it gives none, unchanged when nothing was bound.
  const bound = notBound ? '-' : outcome.ok && outcome.license.bound !== null ? String(outcome.license.bound) : '';
  const wasMember = await REMOVE_NODE.run(o.redis, removeKeys, { nodeId, historyRetentionS: HISTORY_RETENTION_S, nodePrefix: keys.node(''), bound });
  if (typeof wasMember === 'object') throw new DamagedKeyError(wasMember.damaged, removeKeys[wasMember.damaged], REMOVE_NODE.file);
  await o.removeSchedule().catch((error: unknown) => o.warn(error as Error, 'could not remove the node schedule'));
  return { done: true, notBound, wasMember };
}
