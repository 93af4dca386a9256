import type { RedisClient } from '../shared/redis/connection';
import type { ProjectKeys } from '../shared/redis/keys';
import type { Reason } from '../shared/redis/records';

/**
 * Writes node records in exactly the format of shared/redis/records.ts, as the
 * agent's record-attempt script does, so aggregator and CLI tests need no agent.
 * (May later be switched to the real recording script.)
 */
export interface NodeRecordInput {
  id: string;
  consecutiveFailures?: number;
  reason?: Reason | null;
  latestReason?: Reason | null;
  lastAttemptAt?: number | null;
  lastAttemptId?: string | null;
  lastSuccessAt?: number | null;
  attemptsTotal?: number;
  failuresTotal?: number;
  license?: { expiresAt?: number | null; capacity?: number | null; bound?: number | null };
  generation?: number;
  /** Score in the nodes set; defaults to lastAttemptAt or 0. */
  firstSeenAt?: number;
}

export function reason(code: number | null, name: string, at: number, extra: Partial<Reason> = {}): Reason {
  return { code, name, message: extra.message ?? `${name} message`, at, attemptId: extra.attemptId ?? `a-${at}` };
}

export async function writeNodeRecord(redis: RedisClient, keys: ProjectKeys, input: NodeRecordInput): Promise<void> {
  const fields: Record<string, string> = {
    consecutiveFailures: String(input.consecutiveFailures ?? 0),
    reason: input.reason ? JSON.stringify(input.reason) : '',
    latestReason: input.latestReason ? JSON.stringify(input.latestReason) : input.reason ? JSON.stringify(input.reason) : '',
    attemptsTotal: String(input.attemptsTotal ?? 1),
    failuresTotal: String(input.failuresTotal ?? input.consecutiveFailures ?? 0),
    generation: String(input.generation ?? 1),
  };
  if (input.lastAttemptAt != null) fields.lastAttemptAt = String(input.lastAttemptAt);
  if (input.lastAttemptId != null || input.lastAttemptAt != null) fields.lastAttemptId = input.lastAttemptId ?? `a-${input.lastAttemptAt}`;
  if (input.lastSuccessAt != null) fields.lastSuccessAt = String(input.lastSuccessAt);
  if (input.license?.expiresAt != null) fields.licenseExpiresAt = String(input.license.expiresAt);
  if (input.license?.capacity != null) fields.licenseCapacity = String(input.license.capacity);
  if (input.license?.bound != null) fields.licenseBound = String(input.license.bound);
  await redis
    .multi()
    .zadd(keys.nodes, 'NX', input.firstSeenAt ?? input.lastAttemptAt ?? 0, input.id)
    .del(keys.node(input.id))
    .hset(keys.node(input.id), fields)
    .exec();
}

/** LPUSH one failure onto the node's history (newest first), as record-attempt does. */
export async function pushFailure(redis: RedisClient, keys: ProjectKeys, node: string, entry: Reason): Promise<void> {
  await redis.lpush(keys.history(node), JSON.stringify({ ...entry, node }));
}

/** What `register` leaves in Redis: a credential (fake ciphertext) with a generation. */
export async function writeCredential(redis: RedisClient, keys: ProjectKeys, account = 'acme', generation = 1): Promise<void> {
  await redis.hset(keys.credential, {
    account,
    ciphertext: 'not-a-real-ciphertext',
    algorithm: 'rsa',
    keyId: 'k1',
    generation: String(generation),
    registeredAt: '1',
  });
}

/** Simulates register: status `unregistered`, generation +1, node streaks zeroed. */
export async function simulateRegister(redis: RedisClient, keys: ProjectKeys): Promise<number> {
  const generation = await redis.hincrby(keys.credential, 'generation', 1);
  await redis.hset(keys.status, { status: 'unregistered', generation: String(generation) });
  await redis.hdel(keys.status, 'failedAt');
  for (const id of await redis.zrange(keys.nodes, '0', '-1')) {
    await redis.hset(keys.node(id), { consecutiveFailures: '0', reason: '', latestReason: '' });
  }
  await redis.publish(keys.events, JSON.stringify({ type: 'registered', generation }));
  return generation;
}
