import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { parseCredential } from '../credentials/credential-store';
import { nextVerdict, verdictApplies } from './held-verdict';
import type { CachedCredential, LocalState } from './local-state';
import { parseCredentialOrNull, type ProjectSeen } from './recovery';
import { attemptIdAliases } from './schedule';
import { registrationOf } from '../../shared/redis/registration';
import { execAll, hashValue, redisTimeMs, scoredMembers, stringValue } from '../../shared/redis/replies';
import { LuaScript } from '../../shared/redis/lua-script';

/**
 * Whether an attempt is to be made, and with which credential: decided from one read
 * of Redis (credential, sticky status, was it recorded already, Redis time) when Redis
 * answers, from the local state when it does not. The decisions are pure; what the
 * read teaches is kept in the local state apart (rememberRead), for the attempts made
 * while Redis is away.
 */

export type Plan =
  | { go: true; credential: CachedCredential; online: boolean }
  | { go: false; level: 'debug' | 'info' | 'warn' | 'error'; why: string; detail?: string };

export interface BeforeAttempt extends ProjectSeen {
  /** The attempt id (under any of its names) is recorded already. */
  recorded: boolean;
  redisNow: number;
}

const NO_CREDENTIAL: Plan = { go: false, level: 'warn', why: 'No credential stored for the project: run `fdl-cloudauth register`' };

const READ_BEFORE = new LuaScript({
  file: 'daemon/agent/lua/read-before-attempt-5.lua',
  keys: ['credential', 'status', 'node', 'attempts', 'nodes'],
  args: [],
  variadic: true,
  reply: (raw, check) => {
    const [credential, status, time, nodeExists, attemptIdsExist, membersOk, members, recorded] = check.list(raw, 8);
    return {
      credential,
      status,
      time,
      nodeExists: check.integer(nodeExists) === 1,
      attemptIdsExist: check.integer(attemptIdsExist) === 1,
      membersOk: check.integer(membersOk) === 1,
      members,
      recorded: check.integer(recorded) === 1,
    };
  },
});

const SLOT_RECORDED = new LuaScript({
  file: 'daemon/agent/lua/slot-recorded-1.lua',
  keys: ['attempts'],
  args: [],
  variadic: true,
  reply: (raw, check) => check.integer(raw) === 1,
});

/**
 * One command (read-before-attempt-5.lua): what an attempt needs to know, and what
 * shows a loss of Redis data. A members set or an attempt-id set of the wrong type
 * does not stop the attempt: the recording finds and reports it (SPEC §4). A
 * credential or status of the wrong type fails the read, and the attempt is planned
 * from the local state.
 */
export async function readBeforeAttempt(redis: RedisClient, keys: ProjectKeys, nodeId: string, attemptId: string): Promise<BeforeAttempt> {
  const read = await READ_BEFORE.run(
    redis,
    { credential: keys.credential, status: keys.status, node: keys.node(nodeId), attempts: keys.attempts(nodeId), nodes: keys.nodes },
    {},
    attemptIdAliases(attemptId),
  );
  return {
    credential: hashValue(read.credential, keys.credential),
    status: hashValue(read.status, keys.status),
    redisNow: redisTimeMs(read.time),
    nodeExists: read.nodeExists,
    attemptIdsExist: read.attemptIdsExist,
    members: read.membersOk ? Object.fromEntries(scoredMembers(read.members, keys.nodes)) : undefined,
    recorded: read.recorded,
  };
}

/**
 * Was the attempt recorded (under any of its names)? One command (slot-recorded-1.lua);
 * an attempt-id set of the wrong type counts as recorded: the slot timer then leaves
 * the slot to BullMQ, whose recording reports the damage.
 */
export async function isRecorded(redis: RedisClient, keys: ProjectKeys, nodeId: string, attemptId: string): Promise<boolean> {
  return SLOT_RECORDED.run(redis, { attempts: keys.attempts(nodeId) }, {}, attemptIdAliases(attemptId));
}

/** The node's last attempt as Redis holds it, with Redis time (the catch-up rule of R1). */
export async function readLastAttempt(
  redis: RedisClient,
  keys: ProjectKeys,
  nodeId: string,
): Promise<{ lastAttemptAt: number | null; lastAttemptId: string | null; redisNow: number }> {
  const { values } = await execAll(redis.multi().hget(keys.node(nodeId), 'lastAttemptAt').hget(keys.node(nodeId), 'lastAttemptId').time());
  const last = stringValue(values[0], keys.node(nodeId));
  return { lastAttemptAt: last === null ? null : Number(last), lastAttemptId: stringValue(values[1], keys.node(nodeId)), redisNow: redisTimeMs(values[2]) };
}

/** The status hash is about this registration (one written before 0.2.0 names none, and counts for any). */
function statusAbout(status: Record<string, string>, registration: string): boolean {
  if (!status.registration && !status.generation) return true;
  return registrationOf(status.registration, status.generation) === registration;
}

/** The stored credential and whether the stored status fails it; the parse error of a credential that does not parse. */
function judge(before: BeforeAttempt): { credential: CachedCredential | null; failed: boolean } | Error {
  let credential: CachedCredential | null;
  try {
    credential = parseCredential(before.credential);
  } catch (error) {
    return error as Error;
  }
  // A stored `failed` is a verdict about its own registration only (R5).
  const failed = before.status.status === 'failed' && (!credential || statusAbout(before.status, credential.registration));
  return { credential, failed };
}

/** The plan from what one read of Redis found: a decision only, the local state is rememberRead's. */
export function planFromRedis(before: BeforeAttempt): Plan {
  const judged = judge(before);
  if (judged instanceof Error)
    return { go: false, level: 'error', why: 'Stored credential does not parse: run `fdl-cloudauth register` again', detail: judged.message };
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
  const { values } = await execAll(redis.multi().hgetall(keys.credential).hgetall(keys.status));
  const credential = parseCredentialOrNull(hashValue(values[0], keys.credential));
  if (!credential) return; // logged by the attempt that reads it
  const verdict = nextVerdict(local.get().verdict, hashValue(values[1], keys.status), credential);
  // The credential the verdict is about is kept with it: a restore puts the verdict back only beside its own registration.
  local.update({ credential, verdict, projectFailed: verdictApplies(verdict, credential) });
}
