import type { Logger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import type { ViewPolicy } from '../view/compute-view';
import { ProjectViewReader } from '../view/project-view';
import { readKeyIds } from './node-key-ids';

/**
 * Before `crypto switch` writes a new ciphertext (R9: a password is never
 * unreadable): which live nodes of the project could not open it. Live means the node
 * has attempted and is not stale (in a failed project every node that attempted
 * counts: it is waiting for `register`, not gone). A live node that published no key
 * ids (an older sidecar) cannot be shown to open it, so it counts as unable too.
 * Stale nodes are returned apart: they are not checked, and are named so the operator
 * knows to give them the key before they come back.
 */
export interface NodeUnable {
  id: string;
  /** What the node published; null when it published nothing. */
  keyIds: string[] | null;
}

export interface SwitchReadiness {
  unable: NodeUnable[];
  staleNotChecked: string[];
}

export async function switchReadiness(redis: RedisClient, keys: ProjectKeys, policy: ViewPolicy, log: Logger, target: string): Promise<SwitchReadiness> {
  const [view, published] = await Promise.all([new ProjectViewReader({ redis, keys, policy, log }).read(), readKeyIds(redis, keys)]);
  const unable: NodeUnable[] = [];
  const staleNotChecked: string[] = [];
  for (const node of view.nodes) {
    if (node.lastAttemptAt === null) continue;
    if (node.status === 'stale') {
      if (!published.get(node.id)?.includes(target)) staleNotChecked.push(node.id);
      continue;
    }
    const ids = published.get(node.id) ?? null;
    if (!ids?.includes(target)) unable.push({ id: node.id, keyIds: ids });
  }
  return { unable, staleNotChecked };
}

/** "n2 (can open rsa:1a2b only), n3 (published no key ids: a sidecar older than this version?)" */
export function describeUnable(unable: readonly NodeUnable[]): string {
  return unable
    .map((n) =>
      n.keyIds === null
        ? `${n.id} (published no key ids: a sidecar older than this version, or one that never reached Redis?)`
        : n.keyIds.length === 0
          ? `${n.id} (can open no key)`
          : `${n.id} (can open ${n.keyIds.join(', ')} only)`,
    )
    .join(', ');
}
