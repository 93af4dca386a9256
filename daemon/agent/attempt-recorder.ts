import { LuaScript } from '../../shared/redis/lua-script';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { HISTORY_MIN_AGE_MS, HISTORY_MIN_ENTRIES } from '../../shared/redis/records';
import type { Outcome } from '../protocol/classify';
import type { HeldVerdict } from './held-verdict';

/**
 * Writes attempt results through record-attempt-8.lua, the only writer of node
 * records. Used for live attempts and for journal replays alike, so both are
 * idempotent on the attempt id in the same way.
 */

const SCRIPT = new LuaScript('daemon/agent/lua/record-attempt-8.lua');
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

/**
 * What the node holds of its own record: the record as the last recording returned it,
 * and the ids and times of the results it reflects. Put back first if Redis lost it
 * (see the Lua header).
 */
export interface Held {
  record: Record<string, string> | null;
  recent: ReadonlyArray<{ attemptId: string; atMs: number }>;
}

function heldIds(held: Held): string {
  return held.record && held.recent.length > 0 ? JSON.stringify(held.recent.map((e) => [e.attemptId, e.atMs])) : '';
}

export interface RecordReply {
  recorded: boolean;
  consecutiveFailures: number;
  atMs: number;
  /** The node's record after the call, field by field. */
  record: Record<string, string>;
  /** The record as it was when the script had to repair a field that did not parse; null otherwise. */
  corruptBefore: Record<string, string> | null;
}

function fieldsOf(flat: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const list = flat ?? [];
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i] as string] = list[i + 1] as string;
  return out;
}

export async function recordAttempt(redis: RedisClient, keys: ProjectKeys, result: AttemptResult, held: Held = { record: null, recent: [] }): Promise<RecordReply> {
  const o = result.outcome;
  const opt = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  const reply = (await SCRIPT.run(
    redis,
    [keys.node(result.nodeId), keys.history(result.nodeId), keys.attempts(result.nodeId), keys.nodes, keys.events, keys.credential, keys.recovery, keys.removed],
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
      held.record ? JSON.stringify(held.record) : '',
      heldIds(held),
    ],
  )) as [number, number, number, string[], string[]];
  const corrupt = reply[4] ?? [];
  return {
    recorded: reply[0] === 1,
    consecutiveFailures: Number(reply[1]),
    atMs: Number(reply[2]),
    record: fieldsOf(reply[3]),
    corruptBefore: corrupt.length > 0 ? fieldsOf(corrupt) : null,
  };
}

const RESTORE = new LuaScript('daemon/agent/lua/restore-after-loss-7.lua');

/**
 * After Redis lost its data: writes back the credential and the node record this node
 * holds, where they are missing, and the failed verdict it holds for that credential.
 * Returns what was restored.
 */
export async function restoreAfterLoss(
  redis: RedisClient,
  keys: ProjectKeys,
  nodeId: string,
  held: Held & { credential: object | null; firstSeenAt: number; verdict: HeldVerdict | null },
): Promise<string[]> {
  const reply = await RESTORE.run(
    redis,
    [keys.credential, keys.node(nodeId), keys.nodes, keys.recovery, keys.attempts(nodeId), keys.removed, keys.status],
    [
      nodeId,
      keys.events,
      held.credential ? JSON.stringify(held.credential) : '',
      held.record ? JSON.stringify(held.record) : '',
      held.firstSeenAt,
      heldIds(held),
      held.verdict ? JSON.stringify(held.verdict) : '',
    ],
  );
  return Array.isArray(reply) ? (reply as string[]) : [];
}
