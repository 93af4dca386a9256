/**
 * The Redis data model shared by the agent (writer of node records), the aggregator
 * (reader of node records, writer of the project status) and the admin CLI. All keys
 * come from `ProjectKeys`. Times are milliseconds since the epoch taken from Redis
 * `TIME` (R8), never from a node's clock.
 *
 * node:<id> (hash), written only by record-attempt Lua:
 *   consecutiveFailures  integer, 0 after a success (R3)
 *   reason               JSON Reason of the FIRST failure of the current streak, '' when none (R4)
 *   latestReason         JSON Reason of the latest failure of the current streak, '' when none
 *   lastAttemptAt        ms of the last recorded attempt
 *   lastAttemptId        id of the last recorded attempt
 *   lastSuccessAt        ms of the last success, absent before the first
 *   attemptsTotal        attempts recorded (never counts one twice)
 *   failuresTotal        failed attempts recorded
 *   licenseExpiresAt     ms, from the last success
 *   licenseCapacity      from the last success
 *   licenseBound         from the last success
 *   generation           credential generation the streak's attempts used (for people)
 *   registration         identity of the registration the streak belongs to (R5,
 *                        shared/redis/registration.ts; absent before 0.3.0: 'g<generation>')
 *
 * node:<id>:history (list, newest first): JSON FailureEntry, capped (R4: 1,000 entries
 *   or 30 days, whichever keeps more).
 * node:<id>:attempts (sorted set attemptId -> ms): idempotency guard (R2), trimmed to
 *   the same horizon; a slot is recorded under both its names (`slot:<ms>` and 0.1.0's
 *   `repeat:heartbeat:<ms>`) while both releases may run.
 * nodes (sorted set nodeId -> first seen ms): the project's members. A member whose
 *   record is missing or unreadable is an unknown member (R5); every node keeps the
 *   members it last saw and restores them after a loss of Redis data.
 *
 * credential (hash), written by `register` and `crypto switch`:
 *   account, ciphertext, algorithm ('rsa'|'sm2'), keyId, generation (integer,
 *   +1 per register, for people), registeredAt (ms), registration (the identity no
 *   later register repeats), revision (the ciphertext's identity: new at every
 *   register and crypto switch), revisedAt (ms of the revision).
 *
 * status (hash), written by the leader through fenced Lua (and cleared by register):
 *   status ('registered'|'degraded'|'failed'|'unregistered'), since (ms), epoch,
 *   failedAt (ms, while failed), generation and registration (the registration the
 *   status is about).
 *
 * recovery (hash), written by restore-after-loss Lua when Redis lost its data and the
 *   nodes put back what they hold: at (ms, first restoration), node:<id> (what that
 *   node restored: 'credential', 'node').
 *
 * key-ids (hash), written by each sidecar for itself: node id -> the private keys it can
 *   open, `<algorithm>:<key id>` joined by commas; read by `crypto switch` (R9).
 *
 * counters (hash): staleWritesRejected (fenced writes refused), corruptRecords (corrupt
 *   records found by any reader, each distinct one once; corrupt-seen remembers them).
 *
 * events (pub/sub channel): JSON ChangeEvent, its types, publishers and listeners in
 *   change-events.ts.
 */

import { registrationOf } from './registration';

export type ProjectStatus = 'registered' | 'degraded' | 'failed' | 'unregistered';
export type NodeStatus = 'ok' | 'degraded' | 'failed' | 'stale' | 'unregistered';
export const PROJECT_STATUSES: readonly ProjectStatus[] = ['registered', 'degraded', 'failed', 'unregistered'];
export const NODE_STATUSES: readonly NodeStatus[] = ['ok', 'degraded', 'failed', 'stale', 'unregistered'];

export interface Reason {
  /** Numeric code; null for CONNECTION_FAILED. For unknown codes the raw code is kept and name is INCORRECT_LICENSE_FORMAT. */
  code: number | null;
  name: string;
  message: string;
  /** ms since the epoch (Redis time). */
  at: number;
  attemptId: string;
}

export interface FailureEntry extends Reason {
  node: string;
}

export interface NodeRecord {
  id: string;
  consecutiveFailures: number;
  reason: Reason | null;
  latestReason: Reason | null;
  lastAttemptAt: number | null;
  lastAttemptId: string | null;
  lastSuccessAt: number | null;
  attemptsTotal: number;
  failuresTotal: number;
  license: { expiresAt: number | null; capacity: number | null; bound: number | null };
  generation: number;
  /** The registration the streak belongs to (shared/redis/registration.ts). */
  registration: string;
}

export class CorruptRecordError extends Error {
  readonly code = 'ERR_CORRUPT_RECORD';
}

function intField(hash: Record<string, string>, field: string, required: boolean): number | null {
  const raw = hash[field];
  if (raw === undefined || raw === '') {
    if (required) throw new CorruptRecordError(`field ${field} is missing`);
    return null;
  }
  if (!/^-?\d+$/.test(raw)) throw new CorruptRecordError(`field ${field} is not an integer`);
  return Number(raw);
}

function reasonField(hash: Record<string, string>, field: string): Reason | null {
  const raw = hash[field];
  if (!raw) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new CorruptRecordError(`field ${field} is not JSON`);
  }
  const r = parsed as Partial<Reason>;
  if (!r || typeof r !== 'object' || typeof r.name !== 'string' || typeof r.at !== 'number' || !(r.code === null || typeof r.code === 'number')) {
    throw new CorruptRecordError(`field ${field} is not a reason`);
  }
  return { code: r.code, name: r.name, message: typeof r.message === 'string' ? r.message : '', at: r.at, attemptId: String(r.attemptId ?? '') };
}

/**
 * Parses a node hash as HGETALL returns it. Returns null for a node that has no
 * record yet (empty hash); throws CorruptRecordError for one that does not parse.
 */
export function parseNodeRecord(id: string, hash: Record<string, string>): NodeRecord | null {
  if (Object.keys(hash).length === 0) return null;
  return {
    id,
    consecutiveFailures: intField(hash, 'consecutiveFailures', true) as number,
    reason: reasonField(hash, 'reason'),
    latestReason: reasonField(hash, 'latestReason'),
    lastAttemptAt: intField(hash, 'lastAttemptAt', false),
    lastAttemptId: hash.lastAttemptId || null,
    lastSuccessAt: intField(hash, 'lastSuccessAt', false),
    attemptsTotal: intField(hash, 'attemptsTotal', false) ?? 0,
    failuresTotal: intField(hash, 'failuresTotal', false) ?? 0,
    license: {
      expiresAt: intField(hash, 'licenseExpiresAt', false),
      capacity: intField(hash, 'licenseCapacity', false),
      bound: intField(hash, 'licenseBound', false),
    },
    generation: intField(hash, 'generation', false) ?? 0,
    registration: registrationOf(hash.registration, intField(hash, 'generation', false) ?? 0),
  };
}

/** R4: history keeps at least this many entries, and at least this long. */
export const HISTORY_MIN_ENTRIES = 1000;
export const HISTORY_MIN_AGE_MS = 30 * 86_400_000;
