import Redis from 'ioredis';
import type { AttemptResult } from '../../daemon/agent/attempt-recorder';
import { recordDirect } from '../support/record-direct';
import { restoreHeld } from '../../daemon/agent/recovery';
import { ProjectKeys } from '../../shared/redis/keys';
import { parseNodeRecord } from '../../shared/redis/records';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';

/**
 * The recording script's rules on a real Redis: idempotent on the attempt id; the
 * streak follows the order attempts were made, not the order they are recorded; a
 * newer credential generation starts a new streak; a record lost with Redis data is put
 * back (with the ids it reflects) before the attempt is applied; an unbound node's is not.
 */
let redis: Redis;
let keys: ProjectKeys;
const HOUR = 3_600_000;

beforeAll(async () => {
  redis = new Redis((await startRedis()).url);
});

beforeEach(async () => {
  keys = new ProjectKeys(testPrefix('rec'), 'p');
  await redis.hset(keys.credential, { account: 'a', ciphertext: 'x', algorithm: 'rsa', keyId: 'k', generation: '1' });
});

afterAll(async () => {
  redis?.disconnect();
  await disposeAllRedis();
});

const fail = (attemptId: string, atMs?: number, generation = 1): AttemptResult => ({
  nodeId: 'n1',
  attemptId,
  generation,
  atMs,
  outcome: { ok: false, code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', transient: false },
});
const succeed = (attemptId: string, atMs?: number, generation = 1): AttemptResult => ({
  nodeId: 'n1',
  attemptId,
  generation,
  atMs,
  outcome: { ok: true, license: { expiresAt: null, capacity: 5, bound: 1 } },
});
const node = async () => parseNodeRecord('n1', await redis.hgetall(keys.node('n1')));

it('records an attempt id once', async () => {
  expect((await recordDirect(redis, keys, fail('a1'))).recorded).toBe(true);
  expect((await recordDirect(redis, keys, fail('a1'))).recorded).toBe(false);
  expect(await node()).toMatchObject({ consecutiveFailures: 1, attemptsTotal: 1, failuresTotal: 1 });
  expect(await redis.llen(keys.history('n1'))).toBe(1);
});

it('keeps a late, older result out of the streak (journal replayed after a newer live attempt)', async () => {
  await recordDirect(redis, keys, fail('live-1'));
  const now = (await node())?.lastAttemptAt as number;
  // An older success recorded late does not end the newer failure streak...
  await recordDirect(redis, keys, succeed('old-ok', now - 2 * HOUR));
  expect(await node()).toMatchObject({ consecutiveFailures: 1, lastAttemptId: 'live-1', attemptsTotal: 2 });
  // ...and after a newer success, an older failure does not start one.
  await recordDirect(redis, keys, succeed('live-2'));
  await recordDirect(redis, keys, fail('old-fail', now - HOUR));
  const record = await node();
  expect(record).toMatchObject({ consecutiveFailures: 0, reason: null, lastAttemptId: 'live-2', failuresTotal: 2 });
  // It is still in the history.
  expect((await redis.lrange(keys.history('n1'), '0', '-1')).some((h) => h.includes('old-fail'))).toBe(true);
});

it('starts a new streak under a new registration; a late result of the old one goes on with the old streak only while the record is the old one', async () => {
  for (const id of ['f1', 'f2', 'f3']) await recordDirect(redis, keys, fail(id));
  // register ran: the current registration is another (here one known by its generation, as 0.2.0 wrote it).
  await redis.hset(keys.credential, 'generation', '2');
  // Made with the old credential before the node read the new one: the old registration's streak (4), which the view does not count.
  await recordDirect(redis, keys, fail('old-gen', undefined, 1));
  expect(await node()).toMatchObject({ consecutiveFailures: 4, registration: 'g1' });
  await recordDirect(redis, keys, fail('new-gen', undefined, 2));
  expect(await node()).toMatchObject({ consecutiveFailures: 1, generation: 2, registration: 'g2', reason: { attemptId: 'new-gen' } });
  // Once the record is the new registration's, a late result of the old one is history only.
  await recordDirect(redis, keys, fail('late-old', undefined, 1));
  expect(await node()).toMatchObject({ consecutiveFailures: 1, registration: 'g2', failuresTotal: 6 });
});

it('puts back a lost record with its ids before applying the attempt, unless the node was unbound', async () => {
  const first = await recordDirect(redis, keys, fail('f1'));
  const second = await recordDirect(redis, keys, fail('f2'));
  const held = {
    record: second.record,
    recent: [
      { attemptId: 'f1', atMs: first.atMs },
      { attemptId: 'f2', atMs: second.atMs },
    ],
  };
  await redis.del(keys.node('n1'), keys.attempts('n1'), keys.nodes);
  // Re-recording a result the record already holds counts nothing...
  expect((await recordDirect(redis, keys, fail('f2', second.atMs), held)).recorded).toBe(false);
  expect(await node()).toMatchObject({ consecutiveFailures: 2, attemptsTotal: 2 });
  // ...a new one continues the streak, and the recovery is noted.
  await recordDirect(redis, keys, fail('f3'), held);
  expect(await node()).toMatchObject({ consecutiveFailures: 3, attemptsTotal: 3 });
  expect(await redis.hget(keys.recovery, 'node:n1')).toBe('node');
  expect(await redis.zscore(keys.nodes, 'n1')).not.toBeNull();

  // Unbound on purpose: the record is not brought back; the node starts afresh.
  await redis.del(keys.node('n1'), keys.attempts('n1'), keys.recovery);
  await redis.sadd(keys.removed, 'n1');
  await recordDirect(redis, keys, fail('f4'), held);
  expect(await node()).toMatchObject({ consecutiveFailures: 1, attemptsTotal: 1 });
  expect(await redis.exists(keys.recovery)).toBe(0);
  expect(await redis.sismember(keys.removed, 'n1')).toBe(0);
});

it('never leaves a partial write for a record whose numbers do not parse: repaired from what the node holds, the attempt counted once', async () => {
  await recordDirect(redis, keys, fail('c1'));
  await recordDirect(redis, keys, fail('c2'));
  const held = await redis.hgetall(keys.node('n1'));
  // Corrupted behind everyone's back.
  await redis.hset(keys.node('n1'), { consecutiveFailures: 'two', lastAttemptAt: 'yesterday' });
  const before = await redis.hgetall(keys.node('n1'));

  const reply = await recordDirect(redis, keys, fail('c3'), { record: held, recent: [] });
  expect(reply.recorded).toBe(true);
  // The record as it was, for the node to count as a corrupt record.
  expect(reply.corruptBefore).toEqual(before);
  // The streak goes on from what the node held: 2 + 1.
  expect(await node()).toMatchObject({ consecutiveFailures: 3, attemptsTotal: 3, failuresTotal: 3, lastAttemptId: 'c3' });
  // Recorded once: a replay of the same attempt changes nothing.
  const again = await recordDirect(redis, keys, fail('c3'), { record: held, recent: [] });
  expect(again.recorded).toBe(false);
  expect(again.corruptBefore).toBeNull();
  expect(await node()).toMatchObject({ consecutiveFailures: 3, attemptsTotal: 3 });
});

it('drops a broken number the node does not know either, so its default applies (nothing unknown adds to a streak)', async () => {
  await redis.hset(keys.node('n1'), { consecutiveFailures: 'NaN?', attemptsTotal: '4', failuresTotal: '4', lastAttemptAt: '1000' });
  const reply = await recordDirect(redis, keys, fail('d1'));
  expect(reply.recorded).toBe(true);
  expect(reply.corruptBefore).toMatchObject({ consecutiveFailures: 'NaN?' });
  expect(await node()).toMatchObject({ consecutiveFailures: 1, attemptsTotal: 5 });
});

it('counts a slot once across an upgrade: recorded under the name an earlier release gave it, re-run under slot:<ms>', async () => {
  // The old release recorded the slot (repeat:heartbeat:<ms>), then a retry, a stalled
  // re-run or a replica on the new release runs the same slot again.
  expect((await recordDirect(redis, keys, fail('repeat:heartbeat:7200000'))).recorded).toBe(true);
  expect((await recordDirect(redis, keys, fail('slot:7200000'))).recorded).toBe(false);
  // And the other way: a journal written before the upgrade replayed after it.
  expect((await recordDirect(redis, keys, fail('slot:10800000'))).recorded).toBe(true);
  expect((await recordDirect(redis, keys, fail('repeat:heartbeat:10800000'))).recorded).toBe(false);
  expect(await node()).toMatchObject({ attemptsTotal: 2, consecutiveFailures: 2 });
});

it('writes nothing when the record is lost: the recording refuses, the recovery step runs, then it records (or reports the refusal)', async () => {
  const first = await recordDirect(redis, keys, fail('r1'));
  const held = { record: first.record, recent: [{ attemptId: 'r1', atMs: first.atMs }] };
  await redis.del(keys.node('n1'), keys.attempts('n1'));
  // A recovery step that cannot put anything back: the refusal is an error (the agent
  // journals the result), and nothing was written.
  await expect(recordDirect(redis, keys, fail('r2'), held, async () => [])).rejects.toThrow(/refused \(lost\)/);
  expect(await redis.exists(keys.node('n1'), keys.attempts('n1'))).toBe(0);

  const steps: string[] = [];
  const reply = await recordDirect(redis, keys, fail('r2'), held, async () => {
    steps.push(`recovery, r2 recorded: ${(await redis.zscore(keys.attempts('n1'), 'r2')) !== null}`);
    return restoreHeld(redis, keys, 'n1', { ...held, credential: null, verdict: null, firstSeenAt: first.atMs });
  });
  expect(steps).toEqual(['recovery, r2 recorded: false']);
  expect(reply).toMatchObject({ recorded: true, restored: ['node'], consecutiveFailures: 2 });
});
