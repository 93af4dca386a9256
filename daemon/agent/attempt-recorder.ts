import { LuaScript } from '../../shared/redis/lua-script';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { HISTORY_MIN_AGE_MS, HISTORY_MIN_ENTRIES } from '../../shared/redis/records';
import type { Outcome } from '../protocol/classify';

/**
 * Writes attempt results through record-attempt-7.lua, the only writer of node
 * records. Used for live attempts and for journal replays alike, so both are
 * idempotent on the attempt id in the same way.
 */

const SCRIPT = new LuaScript('daemon/agent/lua/record-attempt-7.lua');
const HISTORY_HARD_CAP = 10_000;

export interface AttemptResult {
  nodeId: string;
  attemptId: string;
  outcome: Outcome;
  /** Credential generation used for the attempt. */
  generation: number;
  /** ms estimate of when the attempt was made; omitted for live attempts (Redis TIME is used). */
  atMs?: number;
}

/** The node's record as it last saw it: put back first if Redis lost it (see the Lua header). */
export type HeldRecord = Record<string, string> | null;

export interface RecordReply {
  recorded: boolean;
  consecutiveFailures: number;
  atMs: number;
  /** The node's record after the call, field by field. */
  record: Record<string, string>;
}

export async function recordAttempt(redis: RedisClient, keys: ProjectKeys, result: AttemptResult, held: HeldRecord = null): Promise<RecordReply> {
  const o = result.outcome;
  const opt = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  const reply = (await SCRIPT.run(
    redis,
    [keys.node(result.nodeId), keys.history(result.nodeId), keys.attempts(result.nodeId), keys.nodes, keys.events, keys.credential, keys.recovery],
    [
      result.nodeId,
      result.attemptId,
      o.ok ? '1' : '0',
      o.ok ? '' : opt(o.code),
      o.ok ? '' : o.name,
      o.ok ? '' : o.message,
      opt(result.atMs),
      o.ok ? opt(o.license.expiresAt) : '',
      o.ok ? opt(o.license.capacity) : '',
      o.ok ? opt(o.license.bound) : '',
      result.generation,
      HISTORY_MIN_ENTRIES,
      HISTORY_MIN_AGE_MS,
      HISTORY_HARD_CAP,
      held ? JSON.stringify(held) : '',
    ],
  )) as [number, number, number, string[]];
  const record: Record<string, string> = {};
  const flat = reply[3] ?? [];
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i] as string] = flat[i + 1] as string;
  return { recorded: reply[0] === 1, consecutiveFailures: Number(reply[1]), atMs: Number(reply[2]), record };
}

const RESTORE = new LuaScript('daemon/agent/lua/restore-after-loss-4.lua');

/**
 * After Redis lost its data: writes back the credential and the node record this node
 * holds, where they are missing. Returns what was restored.
 */
export async function restoreAfterLoss(
  redis: RedisClient,
  keys: ProjectKeys,
  nodeId: string,
  held: { credential: object | null; record: Record<string, string> | null; firstSeenAt: number },
): Promise<string[]> {
  const reply = await RESTORE.run(
    redis,
    [keys.credential, keys.node(nodeId), keys.nodes, keys.recovery],
    [nodeId, keys.events, held.credential ? JSON.stringify(held.credential) : '', held.record ? JSON.stringify(held.record) : '', held.firstSeenAt],
  );
  return Array.isArray(reply) ? (reply as string[]) : [];
}
