import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { parseCredential } from '../credentials/credential-store';
import { nextVerdict, verdictApplies } from './held-verdict';
import type { CachedCredential, LocalState } from './local-state';
import { parseCredentialOrNull, type ProjectSeen } from './recovery';
import { attemptIdAliases } from './schedule';
import { isWrongType } from '../../shared/redis/damaged-key-error';

/**
 * Whether an attempt is to be made, and with which credential: decided from one read
 * of Redis (credential, sticky status, was it recorded already, Redis time) when Redis
 * answers, from the local state when it does not. The decisions are pure; what the
 * read teaches is kept in the local state apart (rememberRead), for the attempts made
 * while Redis is away.
 */

export type Plan = { go: true; credential: CachedCredential; online: boolean } | { go: false; level: 'debug' | 'info' | 'warn' | 'error'; why: string; detail?: string };

export interface BeforeAttempt extends ProjectSeen {
  /** The attempt id (under any of its names) is recorded already. */
  recorded: boolean;
  redisNow: number;
}

const NO_CREDENTIAL: Plan = { go: false, level: 'warn', why: 'No credential stored for the project: run `fdl-cloudauth register`' };

type Replies = Array<[Error | null, unknown]>;

function redisTime(reply: unknown): number {
  const [seconds, micros] = reply as [string, string];
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** One round trip: what an attempt needs to know, and what shows a loss of Redis data. */
export async function readBeforeAttempt(redis: RedisClient, keys: ProjectKeys, nodeId: string, attemptId: string): Promise<BeforeAttempt> {
  const ids = attemptIdAliases(attemptId);
  const batch = redis.multi().hgetall(keys.credential).hgetall(keys.status).time().exists(keys.node(nodeId)).zrange(keys.nodes, '0', '-1', 'WITHSCORES');
  for (const id of ids) batch.zscore(keys.attempts(nodeId), id);
  const reply = (await batch.exec()) as Replies;
  // A members set or an attempt-id set of the wrong type does not stop the attempt: the
  // recording finds and reports it (SPEC §4). Any other error fails the read, and the
  // attempt is planned from the local state.
  const failed = reply.findIndex(([error], i) => error !== null && !(i >= 4 && isWrongType(error)));
  if (failed >= 0) throw reply[failed]?.[0] as Error;
  return {
    credential: (reply[0]?.[1] ?? {}) as Record<string, string>,
    status: (reply[1]?.[1] ?? {}) as Record<string, string>,
    redisNow: redisTime(reply[2]?.[1]),
    nodeExists: reply[3]?.[1] === 1,
    members: reply[4]?.[0] ? undefined : membersOf(reply[4]?.[1]),
    recorded: reply.slice(5).some(([error, score]) => !error && score !== null),
  };
}

/** ZRANGE … WITHSCORES as id -> score. */
function membersOf(raw: unknown): Record<string, number> {
  const flat = Array.isArray(raw) ? (raw as string[]) : [];
  const members: Record<string, number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) members[flat[i] as string] = Number(flat[i + 1]);
  return members;
}

/** Was the attempt recorded (under any of its names)? */
export async function isRecorded(redis: RedisClient, keys: ProjectKeys, nodeId: string, attemptId: string): Promise<boolean> {
  const batch = redis.multi();
  for (const id of attemptIdAliases(attemptId)) batch.zscore(keys.attempts(nodeId), id);
  return ((await batch.exec()) as Replies).some(([, score]) => score !== null);
}

/** The node's last attempt as Redis holds it, with Redis time (the catch-up rule of R1). */
export async function readLastAttempt(redis: RedisClient, keys: ProjectKeys, nodeId: string): Promise<{ lastAttemptAt: number | null; lastAttemptId: string | null; redisNow: number }> {
  const reply = (await redis.multi().hget(keys.node(nodeId), 'lastAttemptAt').hget(keys.node(nodeId), 'lastAttemptId').time().exec()) as Replies;
  const last = reply[0]?.[1] as string | null;
  return { lastAttemptAt: last === null ? null : Number(last), lastAttemptId: (reply[1]?.[1] as string | null) ?? null, redisNow: redisTime(reply[2]?.[1]) };
}

/** The stored credential and whether the stored status fails it; the parse error of a credential that does not parse. */
function judge(before: BeforeAttempt): { credential: CachedCredential | null; failed: boolean } | Error {
  let credential: CachedCredential | null;
  try {
    credential = parseCredential(before.credential);
  } catch (error) {
    return error as Error;
  }
  // A stored `failed` is a verdict about its own generation only (R5).
  const failed = before.status.status === 'failed' && (!before.status.generation || !credential || before.status.generation === String(credential.generation));
  return { credential, failed };
}

/** The plan from what one read of Redis found: a decision only, the local state is rememberRead's. */
export function planFromRedis(before: BeforeAttempt): Plan {
  const judged = judge(before);
  if (judged instanceof Error) return { go: false, level: 'error', why: 'Stored credential does not parse: run `fdl-cloudauth register` again', detail: judged.message };
  if (before.recorded) return { go: false, level: 'debug', why: 'Attempt already recorded; not repeating it' };
  if (judged.failed) return { go: false, level: 'info', why: 'Project is marked failed: not authenticating until it is registered again' };
  if (!judged.credential) return NO_CREDENTIAL;
  return { go: true, credential: judged.credential, online: true };
}

/**
 * Keeps what the read taught for the attempts made while Redis is away: the credential,
 * whether the project is failed, the verdict (R5), the members and the Redis clock
 * offset. Nothing from a read whose credential does not parse.
 */
export function rememberRead(before: BeforeAttempt, local: LocalState, localNow: number): void {
  const judged = judge(before);
  if (judged instanceof Error) return;
  const { credential, failed } = judged;
  const verdict = nextVerdict(local.get().verdict, before.status, credential);
  local.update({ credential, projectFailed: failed, verdict, members: before.members ?? local.get().members, redisClockOffsetMs: before.redisNow - localNow });
}

/** The plan from the local state, while Redis does not answer. */
export function planFromLocal(local: LocalState): Plan {
  const { credential, projectFailed } = local.get();
  if (projectFailed) return { go: false, level: 'info', why: 'Project was marked failed: not authenticating until it is registered again' };
  if (!credential) return NO_CREDENTIAL;
  return { go: true, credential, online: false };
}

/**
 * Reads the project status with the credential and keeps a `failed` verdict locally (the
 * daemon calls this on every status event), so every node holds the verdict within
 * moments of the leader writing it, not at its next attempt (R5, restored after a loss).
 */
export async function noteVerdict(redis: RedisClient, keys: ProjectKeys, local: LocalState): Promise<void> {
  const reply = (await redis.multi().hgetall(keys.credential).hgetall(keys.status).exec()) as Replies;
  const credential = parseCredentialOrNull((reply[0]?.[1] ?? {}) as Record<string, string>);
  if (!credential) return; // logged by the attempt that reads it
  const verdict = nextVerdict(local.get().verdict, (reply[1]?.[1] ?? {}) as Record<string, string>, credential);
  local.update({ verdict, projectFailed: verdictApplies(verdict, credential) });
}
