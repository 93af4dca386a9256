import { recordAttempt, type AttemptResult, type RecordReply } from '../../daemon/agent/attempt-recorder';
import { restoreHeld, type Held } from '../../daemon/agent/recovery';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';

/**
 * The recording script driven directly, for tests of the script: the node holds
 * `held` (its record and the results it reflects) and, when the script finds the
 * record lost, puts back exactly that through the restore script (what the agent's
 * Recovery does with the rest of its state), unless the test gives its own `recover`.
 */
export function recordDirect(
  redis: RedisClient,
  keys: ProjectKeys,
  result: AttemptResult,
  held: Pick<Held, 'record' | 'recent'> = { record: null, recent: [] },
  recover?: () => Promise<string[]>,
): Promise<RecordReply> {
  const restore = () =>
    restoreHeld(redis, keys, result.nodeId, { ...held, credential: null, verdict: null, firstSeenAt: Number(held.record?.lastAttemptAt ?? 0) });
  return recordAttempt(redis, keys, result, held.record, recover ?? restore);
}
