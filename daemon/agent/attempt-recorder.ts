import { LuaScript } from '../../shared/redis/lua-script';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { HISTORY_MIN_AGE_MS, HISTORY_MIN_ENTRIES } from '../../shared/redis/records';
import { DamagedKeyError, damagedRole } from '../../shared/redis/damaged-key-error';
import type { Outcome } from '../protocol/classify';
import { dropDamagedKey } from './recovery';
import { attemptIdAliases } from './schedule';

/**
 * Writes attempt results through record-attempt-7.lua, the only writer of node
 * records. Used for live attempts and for journal replays alike, so both are
 * idempotent on the attempt id in the same way. The recording never restores: when it
 * finds the node's record lost or broken it writes nothing and says so, and
 * recordAttempt runs the step its caller gives (`recover`: the agent's Recovery, the
 * one owner of restorations) or repairs the record (repair-record-2.lua) before
 * recording again — off the hot path, which carries no copy of the record.
 */

/** The keys record-attempt-7.lua checks for their type: the role a damaged-key reply names. */
const CHECKED_KEYS = ['node', 'history', 'attempts', 'nodes', 'credential', 'removed'] as const;

type Recording =
  | {
      state: 'recorded' | 'duplicate' | 'lost' | 'corrupt' | 'expired';
      consecutiveFailures: number;
      atMs: number;
      record: Record<string, string>;
      afresh: boolean;
    }
  /** A key of the wrong type (nothing written): which one. */
  | { state: 'damaged'; role: (typeof CHECKED_KEYS)[number] };
const STATES = new Map<number, Exclude<Recording['state'], 'damaged'>>([
  [1, 'recorded'],
  [0, 'duplicate'],
  [-1, 'lost'],
  [-2, 'corrupt'],
  [-4, 'expired'],
]);

/** The keys of the node's own that a damaged value is removed from (and put back by the node), with their type. */
const OWN_KEYS: Record<string, { type: 'hash' | 'list' | 'zset'; key: (keys: ProjectKeys, nodeId: string) => string }> = {
  node: { type: 'hash', key: (keys, id) => keys.node(id) },
  history: { type: 'list', key: (keys, id) => keys.history(id) },
  attempts: { type: 'zset', key: (keys, id) => keys.attempts(id) },
};
const PROJECT_KEYS: Record<string, (keys: ProjectKeys) => string> = { nodes: (k) => k.nodes, credential: (k) => k.credential, removed: (k) => k.removed };

const RECORD = new LuaScript({
  file: 'daemon/agent/lua/record-attempt-7.lua',
  keys: ['node', 'history', 'attempts', 'nodes', 'events', 'credential', 'removed'],
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
    'holdsRecord',
    'otherAttemptId',
    'madeAfter',
    'registration',
  ],
  reply(raw, check): Recording {
    const role = damagedRole(raw);
    if (role !== null) return { state: 'damaged', role: check.oneOf(role, CHECKED_KEYS) };
    const [state, streak, atMs, record, afresh] = check.list(raw, 4);
    return {
      state: STATES.get(check.integer(state)) ?? check.fail('a state of 1, 0, -1, -2 or -4'),
      consecutiveFailures: check.integer(streak),
      atMs: check.integer(atMs),
      record: check.fields(record),
      afresh: afresh !== undefined && check.integer(afresh) === 1,
    };
  },
});

/**
 * The recording script refused a result again after the recovery or repair step: a
 * fault of the data or the code, not Redis being away. The result stays in the journal.
 */
export class RecordingRefusedError extends Error {
  constructor(attemptId: string, state: string) {
    super(`recording ${attemptId} was refused (${state}) after the recovery step`);
    this.name = 'RecordingRefusedError';
  }
}

const REPAIR = new LuaScript({
  file: 'daemon/agent/lua/repair-record-2.lua',
  keys: ['node', 'history'],
  args: ['heldRecord'],
  reply: (raw, check) => check.fields(raw),
});

const HISTORY_HARD_CAP = 10_000;

export interface AttemptResult {
  nodeId: string;
  attemptId: string;
  outcome: Outcome;
  /** Credential generation used for the attempt (for people). */
  generation: number;
  /** Identity of the registration whose credential the attempt used (shared/redis/registration.ts); absent in a result journaled by 0.2.0. */
  registration?: string;
  /** ms estimate of when the attempt was made; omitted for live attempts (Redis TIME is used). */
  atMs?: number;
  /**
   * lastAttemptAt of the node's record as the node held it when the attempt began: an
   * estimated time older than the stored record's is then still in order if nothing
   * was recorded since (a clock stepped back while Redis was away).
   */
  madeAfter?: number;
}

export interface RecordReply {
  recorded: boolean;
  /**
   * Older than the idempotency horizon (30 days): not recorded, since its id could not
   * be kept to stop a second count. The caller names it as lost.
   */
  expired: boolean;
  consecutiveFailures: number;
  atMs: number;
  /** The node's record after the call, field by field. */
  record: Record<string, string>;
  /** The record as it was when a field that did not parse had to be repaired; null otherwise. */
  corruptBefore: Record<string, string> | null;
  /** What the recovery step put back because the recording found the record lost; empty otherwise. */
  restored: string[];
  /** The node had been unbound on purpose: this result starts its record again. */
  afresh: boolean;
  /** Keys of the node's own that held a value of the wrong type and were removed (then put back): 'node', 'history', 'attempts'. */
  damaged: string[];
}

/**
 * Records a result. When the script finds the record or the credential lost (Redis
 * lost its data) the recovery step runs first — `recover`, the agent's Recovery — and
 * when it finds a number that does not parse, the record is repaired from the record
 * the node holds (`heldRecord`); then the result is recorded. Nothing is ever written
 * halfway.
 */
export async function recordAttempt(
  redis: RedisClient,
  keys: ProjectKeys,
  result: AttemptResult,
  heldRecord: Record<string, string> | null,
  recover: () => Promise<string[]>,
): Promise<RecordReply> {
  let restored: string[] = [];
  let corruptBefore: Record<string, string> | null = null;
  const damaged: string[] = [];
  // At most one step of each kind (a damaged key removed, a recovery, a repair): a
  // second refusal is a fault to report, not to loop on.
  for (let round = 0; ; round += 1) {
    const reply = await runRecord(redis, keys, result, heldRecord);
    if (reply.state === 'recorded' || reply.state === 'duplicate' || reply.state === 'expired') {
      return {
        recorded: reply.state === 'recorded',
        expired: reply.state === 'expired',
        consecutiveFailures: reply.consecutiveFailures,
        atMs: reply.atMs,
        record: reply.record,
        corruptBefore,
        restored,
        afresh: reply.afresh,
        damaged,
      };
    }
    if (reply.state === 'damaged') {
      const { role } = reply;
      const own = OWN_KEYS[role];
      const key = own ? own.key(keys, result.nodeId) : (PROJECT_KEYS[role]?.(keys) ?? role);
      // A project key is not this node's to remove: named, and the result goes to the journal.
      if (!own || damaged.includes(role)) throw new DamagedKeyError(role, key, RECORD.file);
      await dropDamagedKey(redis, key, own.type);
      damaged.push(role);
      // What the removed key held is put back from what the node holds (its record, the ids it reflects) before recording.
      restored = [...restored, ...(await recover())];
      continue;
    }
    if (round >= 3) throw new RecordingRefusedError(result.attemptId, reply.state);
    if (reply.state === 'lost') restored = [...restored, ...(await recover())];
    else corruptBefore = (await repairRecord(redis, keys, result.nodeId, heldRecord)) ?? corruptBefore;
  }
}

/** Repairs the numbers of the node's record that do not parse; the record as it was, or null when nothing was broken. */
export async function repairRecord(
  redis: RedisClient,
  keys: ProjectKeys,
  nodeId: string,
  heldRecord: Record<string, string> | null,
): Promise<Record<string, string> | null> {
  const before = await REPAIR.run(
    redis,
    { node: keys.node(nodeId), history: keys.history(nodeId) },
    { heldRecord: heldRecord ? JSON.stringify(heldRecord) : '' },
  );
  return Object.keys(before).length > 0 ? before : null;
}

function runRecord(redis: RedisClient, keys: ProjectKeys, result: AttemptResult, heldRecord: Record<string, string> | null): Promise<Recording> {
  const o = result.outcome;
  const opt = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  return RECORD.run(
    redis,
    {
      node: keys.node(result.nodeId),
      history: keys.history(result.nodeId),
      attempts: keys.attempts(result.nodeId),
      nodes: keys.nodes,
      events: keys.events,
      credential: keys.credential,
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
      holdsRecord: heldRecord !== null ? '1' : '',
      otherAttemptId: attemptIdAliases(result.attemptId)[1] ?? '',
      madeAfter: result.madeAfter ?? '',
      registration: result.registration ?? '',
    },
  );
}
