import Redis from 'ioredis';
import type { AttemptResult } from '../../daemon/agent/attempt-recorder';
import { recordDirect } from '../support/record-direct';
import { restoreHeld, type Held } from '../../daemon/agent/recovery';
import { DamagedKeyError } from '../../shared/redis/damaged-key-error';
import { ProjectKeys } from '../../shared/redis/keys';
import { parseNodeRecord } from '../../shared/redis/records';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { cachedCredential } from '../support/cached-credential';
import { parseCredential } from '../../daemon/credentials/credential-store';

/**
 * The recording scripts under damage, clock steps and mixed versions, on a real Redis:
 * - every key record-attempt-7.lua and restore-after-loss-8.lua touch is checked before
 *    the first write: a key of the wrong type writes nothing (no attempt id without its
 *    streak); one of the node's own is removed and put back from what the node holds;
 * - a recorded time is never later than Redis TIME, and a backward clock step does not
 *    drop journaled failures from the streak;
 * - a slot is recorded under both names while both releases may run;
 * - a restore never brings back an older credential generation than the stored one,
 *    and puts back a newer one over an older one;
 * - a restore puts back the members the node saw, not only itself.
 */
let redis: Redis;
let keys: ProjectKeys;
const DAY = 86_400_000;

beforeAll(async () => {
  redis = new Redis((await startRedis()).url);
});

beforeEach(async () => {
  keys = new ProjectKeys(testPrefix('dmg'), 'p');
  await redis.hset(keys.credential, { account: 'a', ciphertext: 'x', algorithm: 'rsa', keyId: 'k', generation: '1', registeredAt: '100' });
});

afterAll(async () => {
  redis?.disconnect();
  await disposeAllRedis();
});

const fail = (attemptId: string, atMs?: number): AttemptResult => ({
  nodeId: 'n1',
  attemptId,
  generation: 1,
  atMs,
  outcome: { ok: false, code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', transient: false },
});
const node = async () => parseNodeRecord('n1', await redis.hgetall(keys.node('n1')));
const redisNow = async () => {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
};

/** Two failures recorded, and what the node holds of them. */
async function twoFailures(): Promise<Pick<Held, 'record' | 'recent'>> {
  const a = await recordDirect(redis, keys, fail('f1'));
  const b = await recordDirect(redis, keys, fail('f2'), { record: a.record, recent: [{ attemptId: 'f1', atMs: a.atMs }] });
  return {
    record: b.record,
    recent: [
      { attemptId: 'f1', atMs: a.atMs },
      { attemptId: 'f2', atMs: b.atMs },
    ],
  };
}

describe('a key of the wrong type', () => {
  it.each([
    ['nodes', () => keys.nodes],
    ['credential', () => keys.credential],
    ['removed', () => keys.removed],
  ])('the project key %s: nothing written, the key named', async (role, key) => {
    const held = await twoFailures();
    const before = await redis.hgetall(keys.node('n1'));
    await redis.del(key());
    await redis.set(key(), 'junk');
    const error = await recordDirect(redis, keys, fail('f3'), held).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DamagedKeyError);
    expect(error).toMatchObject({ code: 'ERR_DAMAGED_KEY', role, key: key() });
    expect((error as Error).message).toContain(`redis-cli DEL ${key()}`);
    // No attempt id without its streak: the attempt can be recorded later, whole.
    expect(await redis.zscore(keys.attempts('n1'), 'f3')).toBeNull();
    expect(await redis.hgetall(keys.node('n1'))).toEqual(before);
    expect(await redis.get(key())).toBe('junk');
  });

  it.each([
    ['node', () => keys.node('n1')],
    ['history', () => keys.history('n1')],
    ['attempts', () => keys.attempts('n1')],
  ])("the node's own key %s: removed, put back from what the node holds, the attempt recorded once", async (role, key) => {
    const held = await twoFailures();
    await redis.del(key());
    await redis.set(key(), 'junk');
    const reply = await recordDirect(redis, keys, fail('f3'), held);
    expect(reply).toMatchObject({ recorded: true, damaged: [role], consecutiveFailures: 3 });
    expect(await node()).toMatchObject({ consecutiveFailures: 3, lastAttemptId: 'f3' });
    expect(await redis.type(key())).not.toBe('string');
  });

  it('restore-after-loss writes nothing when a key it touches is damaged', async () => {
    const held = await twoFailures();
    const credential = parseCredential(await redis.hgetall(keys.credential));
    await redis.flushall();
    await redis.set(keys.status, 'junk');
    const error = await restoreHeld(redis, keys, 'n1', { ...held, credential, verdict: null, firstSeenAt: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DamagedKeyError);
    expect(error).toMatchObject({ role: 'status', key: keys.status });
    expect(await redis.exists(keys.credential, keys.node('n1'), keys.nodes, keys.recovery)).toBe(0);
  });
});

describe('time', () => {
  it('caps a journaled time at Redis TIME: a clock stepped a day ahead does not freeze the streak', async () => {
    const held = await twoFailures();
    const reply = await recordDirect(redis, keys, fail('ahead', (await redisNow()) + DAY), held);
    expect(reply.atMs).toBeLessThanOrEqual(await redisNow());
    // The next live attempt is in order and counts.
    const live = await recordDirect(redis, keys, fail('live'), { record: reply.record, recent: [] });
    expect(live.consecutiveFailures).toBe(4);
    expect(await node()).toMatchObject({ consecutiveFailures: 4, lastAttemptId: 'live' });
  });

  it('counts a journaled failure made after the record the node held, whatever a clock stepped back says', async () => {
    const held = await twoFailures();
    const madeAfter = Number(held.record?.lastAttemptAt);
    const behind = (await redisNow()) - DAY;
    // Two attempts made during one outage, after the record the node held, dated a day back.
    const first = await recordDirect(redis, keys, { ...fail('behind-1', behind), madeAfter }, held);
    expect(first.consecutiveFailures).toBe(3);
    const second = await recordDirect(redis, keys, { ...fail('behind-2', behind + 1000), madeAfter }, { record: first.record, recent: [] });
    expect(second.consecutiveFailures).toBe(4);
    expect(await node()).toMatchObject({ consecutiveFailures: 4, lastAttemptId: 'behind-2' });
  });

  it('keeps the usual order for an attempt that overlapped a newer recorded one', async () => {
    const held = await twoFailures();
    // Begun before f2 was recorded (the node then held only f1's record), dated before f2.
    const madeAfter = Number(held.record?.lastAttemptAt) - 1;
    const success = {
      ...fail('overlap', Number(held.record?.lastAttemptAt) - 1),
      madeAfter,
      outcome: { ok: true as const, license: { expiresAt: null, capacity: 5, bound: 1 } },
    };
    expect((await recordDirect(redis, keys, success, held)).consecutiveFailures).toBe(2);
    expect(await node()).toMatchObject({ consecutiveFailures: 2, lastAttemptId: 'f2' });
  });
});

it('records a slot under both names while both releases may run', async () => {
  await recordDirect(redis, keys, fail('slot:7200000'));
  expect(await redis.zscore(keys.attempts('n1'), 'slot:7200000')).not.toBeNull();
  expect(await redis.zscore(keys.attempts('n1'), 'repeat:heartbeat:7200000')).not.toBeNull();
  expect(await node()).toMatchObject({ attemptsTotal: 1, consecutiveFailures: 1 });
});

describe('restore: members and generation order', () => {
  const credential = (generation: number, registeredAt: number) => cachedCredential({ ciphertext: `x${generation}`, generation, registeredAt });
  const verdict = (generation: number, registeredAt: number) => ({
    since: '5',
    epoch: '3',
    failedAt: '5',
    generation: String(generation),
    registeredAt: String(registeredAt),
  });

  it('puts a newer credential over an older one and drops the verdict about the older one', async () => {
    // A node down during the re-registration started first and restored generation 1 with its verdict.
    await redis.hset(keys.status, { status: 'failed', since: '5', epoch: '3', failedAt: '5', generation: '1' });
    const restored = await restoreHeld(redis, keys, 'n2', { record: null, recent: [], credential: credential(2, 200), verdict: null, firstSeenAt: 1 });
    expect(restored).toContain('credential');
    expect(await redis.hmget(keys.credential, 'generation', 'registeredAt', 'ciphertext')).toEqual(['2', '200', 'x2']);
    expect(await redis.exists(keys.status)).toBe(0);
  });

  it('never brings back an older credential, nor a verdict about it', async () => {
    await redis.hset(keys.credential, { generation: '2', registeredAt: '200', ciphertext: 'x2' });
    const restored = await restoreHeld(redis, keys, 'n2', {
      record: null,
      recent: [],
      credential: credential(1, 100),
      verdict: verdict(1, 100),
      firstSeenAt: 1,
    });
    expect(restored).toEqual([]);
    expect(await redis.hmget(keys.credential, 'generation', 'ciphertext')).toEqual(['2', 'x2']);
    expect(await redis.exists(keys.status)).toBe(0);
  });

  it('does not take a generation count that started again for an older registration', async () => {
    // register into an empty Redis counts from 1 again; a node holding generation 3 from before is older.
    await redis.hset(keys.credential, { generation: '1', registeredAt: '900', ciphertext: 'new' });
    expect(await restoreHeld(redis, keys, 'n2', { record: null, recent: [], credential: credential(3, 100), verdict: null, firstSeenAt: 1 })).toEqual([]);
    expect(await redis.hget(keys.credential, 'ciphertext')).toBe('new');
  });

  it('puts back the members the node saw, except one unbound on purpose', async () => {
    await redis.sadd(keys.removed, 'n3');
    const restored = await restoreHeld(redis, keys, 'n1', {
      record: null,
      recent: [],
      credential: null,
      verdict: null,
      firstSeenAt: 1,
      members: { n1: 10, n2: 20, n3: 30 },
    });
    expect(restored).toEqual(['members']);
    expect(await redis.zrange(keys.nodes, '0', '-1', 'WITHSCORES')).toEqual(['n1', '10', 'n2', '20']);
  });
});
