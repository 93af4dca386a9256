import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { isRecorded, planFromLocal, planFromRedis, readBeforeAttempt, rememberRead, type BeforeAttempt } from '../../daemon/agent/attempt-plan';
import { legacySlotAttemptId, slotAttemptId } from '../../daemon/agent/schedule';
import { ProjectKeys } from '../../shared/redis/keys';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { LocalDisk } from '../../daemon/agent/local-disk';
import { createLogger } from '../../shared/logger';
import { LocalState } from '../../daemon/agent/local-state';
import { lossSeen } from '../../daemon/agent/recovery';

/**
 * Whether an attempt is made, decided from what one read of Redis found (or from the
 * local state while Redis is away), what that read leaves in the local state (apart
 * from the decision, which writes nothing), and when that read shows a loss of Redis
 * data (FLUSHALL without a disconnect) that the recovery step must repair first. On a
 * real Redis: the read before an attempt and the slot check are one command each
 * (issue 31: they were a MULTI block of 11 and one of 4), keys of a wrong type included.
 */

const CREDENTIAL = { account: 'acct', ciphertext: 'c', algorithm: 'rsa', keyId: 'k', generation: '2', registeredAt: '1700000000000' };
const FAILED = { status: 'failed', since: '5', epoch: '1', failedAt: '5', generation: '2' };

function local(): LocalState {
  return new LocalState(new LocalDisk(mkdtempSync(path.join(os.tmpdir(), 'fdl-plan-')), createLogger({ level: 'silent' })), 'n1');
}

const before = (over: Partial<BeforeAttempt> = {}): BeforeAttempt => ({
  credential: CREDENTIAL,
  status: {},
  nodeExists: true,
  recorded: false,
  redisNow: 10_000,
  ...over,
});

describe('the plan from Redis', () => {
  it('authenticates with the stored credential, and keeps it and the Redis clock offset for when Redis is away', () => {
    const state = local();
    expect(planFromRedis(before())).toMatchObject({ go: true, online: true, credential: { account: 'acct', generation: 2 } });
    rememberRead(before(), state, 9_000);
    expect(state.get()).toMatchObject({ credential: { account: 'acct' }, projectFailed: false, redisClockOffsetMs: 1_000 });
  });

  it('skips an attempt already recorded (a retry, a replica, a replay)', () => {
    expect(planFromRedis(before({ recorded: true }))).toMatchObject({ go: false, level: 'debug', why: 'Attempt already recorded; not repeating it' });
  });

  it('refuses while the project is failed, and holds the verdict locally (R5)', () => {
    const state = local();
    expect(planFromRedis(before({ status: FAILED }))).toMatchObject({ go: false, level: 'info', why: expect.stringMatching(/^Project is marked failed/) });
    rememberRead(before({ status: FAILED }), state, 0);
    expect(state.get()).toMatchObject({ projectFailed: true, verdict: { generation: '2', registeredAt: '1700000000000' } });
    // And while Redis is away.
    expect(planFromLocal(state)).toMatchObject({ go: false, why: expect.stringMatching(/^Project was marked failed/) });
  });

  it('says what to do when there is no credential, or one that does not parse (its problem, not its values)', () => {
    expect(planFromRedis(before({ credential: {} }))).toMatchObject({ go: false, level: 'warn', why: expect.stringContaining('fdl-cloudauth register') });
    const broken = planFromRedis(before({ credential: { ...CREDENTIAL, generation: 'x' } }));
    expect(broken).toMatchObject({ go: false, level: 'error', detail: 'credential field generation is not an integer' });
  });
});

describe('what the read leaves in the local state', () => {
  it('nothing from a read whose credential does not parse', () => {
    const state = local();
    const empty = state.get();
    rememberRead(before({ credential: { ...CREDENTIAL, generation: 'x' }, status: FAILED }), state, 0);
    expect(state.get()).toEqual(empty);
  });
});

describe('the plan from the local state', () => {
  it('authenticates offline with the credential last read, and not without one', () => {
    const state = local();
    expect(planFromLocal(state)).toMatchObject({ go: false, level: 'warn' });
    rememberRead(before(), state, 0);
    expect(planFromLocal(state)).toMatchObject({ go: true, online: false, credential: { account: 'acct' } });
  });
});

describe('a loss of Redis data', () => {
  it('shows as a missing credential, a missing record, or a failed verdict gone, for what the node holds', () => {
    const state = local();
    // Holding nothing yet: nothing can be lost.
    expect(lossSeen({ credential: {}, status: {}, nodeExists: false }, state)).toBe(false);
    rememberRead(before({ status: FAILED }), state, 0);
    state.update({ nodeRecord: { attemptsTotal: '3' } });
    expect(lossSeen({ credential: CREDENTIAL, status: FAILED, nodeExists: true }, state)).toBe(false);
    expect(lossSeen({ credential: {}, status: FAILED, nodeExists: true }, state)).toBe(true);
    expect(lossSeen({ credential: CREDENTIAL, status: FAILED, nodeExists: false }, state)).toBe(true);
    expect(lossSeen({ credential: CREDENTIAL, status: {}, nodeExists: true }, state)).toBe(true);
    // A new registration voids the verdict: its status not being failed is no loss.
    expect(lossSeen({ credential: { ...CREDENTIAL, generation: '3' }, status: {}, nodeExists: true }, state)).toBe(false);
  });
});

describe('the reads on a real Redis: one command each', () => {
  let server: Awaited<ReturnType<typeof startRedis>>;
  let redis: Redis;
  let sent: string[] = [];
  const keys = new ProjectKeys(testPrefix('plan'), 'p');
  const slot = 1_700_000_000_000;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((command: Parameters<typeof send>[0], stream?: Parameters<typeof send>[1]) => {
      sent.push(command.name);
      return send(command, stream);
    }) as typeof send;
    // Load both scripts, so what is counted below is a call, not EVALSHA's NOSCRIPT and the EVAL after it.
    await readBeforeAttempt(redis, keys, 'n1', slotAttemptId(slot));
    await isRecorded(redis, keys, 'n1', slotAttemptId(slot));
  });
  beforeEach(async () => {
    sent = [];
    await redis.flushall();
    sent = [];
  });
  afterAll(async () => {
    redis.disconnect();
    await disposeAllRedis();
  });

  it('reads what an attempt needs in one command', async () => {
    await redis.hset(keys.credential, CREDENTIAL);
    await redis.hset(keys.status, FAILED);
    await redis.hset(keys.node('n1'), 'attemptsTotal', '3');
    await redis.zadd(keys.attempts('n1'), 5, legacySlotAttemptId(slot));
    await redis.zadd(keys.nodes, 7, 'n1', 8, 'n2');
    sent = [];
    const read = await readBeforeAttempt(redis, keys, 'n1', slotAttemptId(slot));
    expect(sent).toEqual(['evalsha']);
    expect(read).toMatchObject({
      credential: CREDENTIAL,
      status: FAILED,
      nodeExists: true,
      attemptIdsExist: true,
      members: { n1: 7, n2: 8 },
      recorded: true,
    });
    expect(read.redisNow).toBeGreaterThan(slot);
    expect(await readBeforeAttempt(redis, keys, 'n2', slotAttemptId(slot))).toMatchObject({ nodeExists: false, attemptIdsExist: false, recorded: false });
  });

  it('goes on past a members set or an attempt-id set of the wrong type, and fails on a credential of the wrong type', async () => {
    await redis.hset(keys.credential, CREDENTIAL);
    await redis.set(keys.nodes, 'x');
    await redis.set(keys.attempts('n1'), 'x');
    const read = await readBeforeAttempt(redis, keys, 'n1', slotAttemptId(slot));
    expect(read).toMatchObject({ members: undefined, attemptIdsExist: true, recorded: false, credential: CREDENTIAL });
    await redis.del(keys.credential);
    await redis.set(keys.credential, 'x');
    await expect(readBeforeAttempt(redis, keys, 'n1', slotAttemptId(slot))).rejects.toThrow(/WRONGTYPE/);
  });

  it('checks a slot in one command: recorded under either name, or left to BullMQ when the set is damaged', async () => {
    expect(await isRecorded(redis, keys, 'n1', slotAttemptId(slot))).toBe(false);
    expect(sent).toEqual(['evalsha']);
    await redis.zadd(keys.attempts('n1'), 5, legacySlotAttemptId(slot));
    expect(await isRecorded(redis, keys, 'n1', slotAttemptId(slot))).toBe(true);
    await redis.del(keys.attempts('n1'));
    await redis.set(keys.attempts('n1'), 'x');
    expect(await isRecorded(redis, keys, 'n1', slotAttemptId(slot))).toBe(true);
  });
});
