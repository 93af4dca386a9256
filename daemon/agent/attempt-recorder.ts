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

const SCRIPT = new LuaScript({
  file: 'daemon/agent/lua/record-attempt-8.lua',
  keys: ['node', 'history', 'attempts', 'nodes', 'events', 'credential', 'recovery', 'removed'],
  args: [
    'nodeId',
    'attemptId',
    'ok',
    'code',
    'name',
    'message',
    'atMs',
    'licenseExpiresAt',
    'licenseCapacity',
    'licenseBound',
    'generation',
    'historyKeep',
    'historyHorizonMs',
    'historyCap',
    'heldRecord',
    'heldIds',
  ],
  reply(raw, check): RecordReply {
    const [recorded, streak, atMs, record, corrupt] = check.list(raw, 5);
    const corruptFields = check.fields(corrupt);
    return {
      recorded: check.integer(recorded) === 1,
      consecutiveFailures: check.integer(streak),
      atMs: check.integer(atMs),
      record: check.fields(record),
      corruptBefore: Object.keys(corruptFields).length > 0 ? corruptFields : null,
    };
  },
});
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

export async function recordAttempt(redis: RedisClient, keys: ProjectKeys, result: AttemptResult, held: Held = { record: null, recent: [] }): Promise<RecordReply> {
  const o = result.outcome;
  const opt = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  return SCRIPT.run(
    redis,
    {
      node: keys.node(result.nodeId),
      history: keys.history(result.nodeId),
      attempts: keys.attempts(result.nodeId),
      nodes: keys.nodes,
      events: keys.events,
      credential: keys.credential,
      recovery: keys.recovery,
      removed: keys.removed,
    },
    {
      nodeId: result.nodeId,
      attemptId: result.attemptId,
      ok: o.ok ? '1' : '0',
      code: o.ok ? '' : opt(o.code),
      name: o.ok ? '' : o.name,
      message: o.ok ? '' : o.message,
      atMs: opt(result.atMs),
      licenseExpiresAt: o.ok ? opt(o.license.expiresAt) : '',
      licenseCapacity: o.ok ? opt(o.license.capacity) : '',
      licenseBound: o.ok ? opt(o.license.bound) : '',
      generation: result.generation,
      historyKeep: HISTORY_MIN_ENTRIES,
      historyHorizonMs: HISTORY_MIN_AGE_MS,
      historyCap: HISTORY_HARD_CAP,
      heldRecord: held.record ? JSON.stringify(held.record) : '',
      heldIds: heldIds(held),
    },
  );
}

/** What was put back ('credential', 'record', 'verdict'), empty when nothing was missing. */
const RESTORE = new LuaScript({
  file: 'daemon/agent/lua/restore-after-loss-8.lua',
  keys: ['credential', 'node', 'nodes', 'recovery', 'attempts', 'removed', 'status', 'events'],
  args: ['nodeId', 'credentialJson', 'recordJson', 'firstSeenAt', 'heldIds', 'verdictJson'],
  reply: (raw, check) => check.strings(raw),
});

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
  return RESTORE.run(
    redis,
    {
      credential: keys.credential,
      node: keys.node(nodeId),
      nodes: keys.nodes,
      recovery: keys.recovery,
      attempts: keys.attempts(nodeId),
      removed: keys.removed,
      status: keys.status,
      events: keys.events,
    },
    {
      nodeId,
      credentialJson: held.credential ? JSON.stringify(held.credential) : '',
      recordJson: held.record ? JSON.stringify(held.record) : '',
      firstSeenAt: held.firstSeenAt,
      heldIds: heldIds(held),
      verdictJson: held.verdict ? JSON.stringify(held.verdict) : '',
    },
  );
}
