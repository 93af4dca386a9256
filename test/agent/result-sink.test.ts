import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { AttemptResult } from '../../daemon/agent/attempt-recorder';
import { LocalDisk } from '../../daemon/agent/local-disk';
import { LocalState } from '../../daemon/agent/local-state';
import { Recovery } from '../../daemon/agent/recovery';
import { ResultSink } from '../../daemon/agent/result-sink';
import { REMOVE_NODE } from '../../daemon/credentials/unbind-node';
import { parseCredential } from '../../daemon/credentials/credential-store';
import { createLogger } from '../../shared/logger';
import { ProjectKeys } from '../../shared/redis/keys';
import { parseNodeRecord } from '../../shared/redis/records';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';

/**
 * The result sink on a real Redis: a result goes to Redis, or to the journal when Redis
 * does not answer; the journal is replayed before any newer result, oldest first, one
 * replay at a time, each result counted once; a record Redis lost is put back by the
 * recovery step before a result is applied to it.
 */
jest.setTimeout(30_000);

let server: TestRedis;
let admin: Redis;
const clients: Redis[] = [];
const log = createLogger({ level: 'silent' });

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  admin.on('error', () => undefined);
});

afterAll(async () => {
  for (const c of [...clients, admin]) c.disconnect();
  await disposeAllRedis();
});

async function sink() {
  const keys = new ProjectKeys(testPrefix('sink'), 'p');
  // As the agent's command connection: fails fast instead of queueing while Redis is away.
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
  clients.push(redis);
  await new Promise((resolve) => redis.once('ready', resolve));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-sink-'));
  const disk = new LocalDisk(dir, log);
  const local = new LocalState(disk, 'n1');
  // Registered, and the node read the credential before its attempts (as the flow does).
  await admin.hset(keys.credential, { account: 'acct', ciphertext: 'c', algorithm: 'rsa', keyId: 'k', generation: '1', registeredAt: '1' });
  local.update({ credential: parseCredential(await admin.hgetall(keys.credential)) });
  const restored: string[][] = [];
  const recovery = new Recovery({ redis, keys, nodeId: 'n1', local, log, onRestored: (r) => restored.push(r) });
  const s = new ResultSink({ redis, keys, nodeId: 'n1', disk, local, recovery, log });
  return { s, keys, redis, local, restored };
}

const fail = (attemptId: string, atMs?: number): AttemptResult => ({
  nodeId: 'n1',
  attemptId,
  generation: 1,
  atMs,
  outcome: { ok: false, code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', transient: false },
});
/** A minute ago on Redis' clock: results made a second apart from there are in the past, in order. */
const aMinuteAgo = async (): Promise<number> => Number((await admin.time())[0]) * 1000 - 60_000;
const node = async (keys: ProjectKeys) => parseNodeRecord('n1', await admin.hgetall(keys.node('n1')));
/** What `fdl-cloudauth unbind --node n1` does to the project's data. */
const unbind = (keys: ProjectKeys) =>
  REMOVE_NODE.run(
    admin,
    { nodes: keys.nodes, node: keys.node('n1'), attempts: keys.attempts('n1'), history: keys.history('n1'), removed: keys.removed, events: keys.events },
    { nodeId: 'n1', historyRetentionS: 60, nodePrefix: keys.node(''), bound: '-' },
  );

it('journals while Redis is away, and replays the journal before a newer result, oldest first, each once', async () => {
  const { s, keys, redis } = await sink();
  const base = await aMinuteAgo();
  await s.write(fail('a1', base), 0);

  await server.kill();
  expect(await s.write(fail('a2'), base + 1000)).toEqual({ where: 'journal' });
  expect(await s.write(fail('a3'), base + 2000)).toEqual({ where: 'journal' });
  expect(s.pending).toBe(2);
  expect(s.journaled('a2')).toBe(true);

  await server.restart();
  await waitFor('the sink connection to be back', () => redis.status === 'ready', 10_000, 20);
  const written = await s.write(fail('a4', base + 3000), 0);
  expect(written).toMatchObject({ where: 'redis', reply: { recorded: true } });
  expect(s.pending).toBe(0);
  // Had a4 been recorded before the journal, the older a2 and a3 would be outside the
  // streak (the streak follows the order attempts were made): 4 means in order.
  expect(await node(keys)).toMatchObject({ consecutiveFailures: 4, attemptsTotal: 4, lastAttemptId: 'a4' });
  const ids = await admin.zrange(keys.attempts('n1'), '0', '-1', 'WITHSCORES');
  expect(ids.filter((_, i) => i % 2 === 0)).toEqual(['a1', 'a2', 'a3', 'a4']);
  // The journaled results carry the times estimated when they were made.
  expect(Number(ids[3])).toBe(base + 1000);
});

it('runs one replay at a time: replays and writes at once record every result once', async () => {
  const { s, keys } = await sink();
  const base = await aMinuteAgo();
  for (let i = 1; i <= 5; i++) s.toJournal({ ...fail(`j${i}`), atMs: base + 1_000 * i });
  await Promise.all([s.replay(), s.write(fail('live'), 0), s.replay(), s.write(fail('live-2'), 0)]);
  expect(s.pending).toBe(0);
  const ids = await admin.zrange(keys.attempts('n1'), '0', '-1');
  expect(ids.slice(0, 5)).toEqual(['j1', 'j2', 'j3', 'j4', 'j5']);
  expect(new Set(ids).size).toBe(7);
  expect((await node(keys))?.attemptsTotal).toBe(7);
});

it('puts back a record Redis lost without a disconnect (FLUSHALL) before applying the next result, through the recovery step', async () => {
  const { s, keys, restored } = await sink();
  await s.write(fail('f1'), 0);
  await s.write(fail('f2'), 0);
  await admin.flushall();
  await s.write(fail('f3'), 0);
  expect(restored).toEqual([['credential', 'node']]);
  // The streak goes on (not 1), f1 and f2 are known again (a replay of them counts nothing).
  expect(await node(keys)).toMatchObject({ consecutiveFailures: 3, attemptsTotal: 3 });
  expect(await admin.hget(keys.recovery, 'node:n1')).toBe('credential,node');
  expect((await s.write(fail('f2'), 0)).where === 'redis' && (await node(keys))?.attemptsTotal).toBe(3);
});

it('repairs a record whose numbers do not parse, records the result once, and counts the corrupt record for the project', async () => {
  const { s, keys } = await sink();
  await s.write(fail('c1'), 0);
  await admin.hset(keys.node('n1'), 'consecutiveFailures', 'many');
  const written = await s.write(fail('c2'), 0);
  expect(written).toMatchObject({ where: 'redis', reply: { recorded: true, corruptBefore: expect.objectContaining({ consecutiveFailures: 'many' }) } });
  expect(await node(keys)).toMatchObject({ consecutiveFailures: 2, attemptsTotal: 2 });
  expect(Number(await admin.hget(keys.counters, 'corruptRecords'))).toBe(1);
});

it('a node unbound on purpose does not bring its old results back when its sidecar starts again: it starts afresh', async () => {
  const { s, keys, redis, local } = await sink();
  await s.write(fail('u1'), 0);
  await s.write(fail('u2'), 0);
  await unbind(keys);
  // The sidecar starts again with its local state: the sync re-records recent results.
  await s.replayRecent();
  expect(await admin.exists(keys.node('n1'))).toBe(0);
  expect(await admin.zscore(keys.nodes, 'n1')).toBeNull();
  expect(local.get()).toMatchObject({ nodeRecord: null, recent: [] });
  // Its next attempt is the first of a new record, not the third of the old streak.
  await s.write(fail('u3'), 0);
  expect(await node(keys)).toMatchObject({ consecutiveFailures: 1, attemptsTotal: 1, lastAttemptId: 'u3' });
  expect(redis.status).toBe('ready');
});

it('a node unbound while its sidecar runs starts afresh at its next result, and a later re-record of recent results brings nothing old back', async () => {
  const { s, keys, local } = await sink();
  await s.write(fail('r1'), 0);
  await s.write(fail('r2'), 0);
  await unbind(keys);
  const written = await s.write(fail('r3'), 0);
  expect(written).toMatchObject({ where: 'redis', reply: { recorded: true, afresh: true, consecutiveFailures: 1 } });
  expect(local.get().recent.map((e) => e.attemptId)).toEqual(['r3']);
  await s.replayRecent(); // as after a reconnect
  expect(await node(keys)).toMatchObject({ consecutiveFailures: 1, attemptsTotal: 1, lastAttemptId: 'r3' });
  expect(await admin.zrange(keys.attempts('n1'), '0', '-1')).toEqual(['r3']);
});
