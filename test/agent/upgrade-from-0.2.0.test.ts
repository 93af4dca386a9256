import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { LocalDisk } from '../../daemon/agent/local-disk';
import { LocalState } from '../../daemon/agent/local-state';
import { Recovery } from '../../daemon/agent/recovery';
import { ResultSink } from '../../daemon/agent/result-sink';
import { parseCredential } from '../../daemon/credentials/credential-store';
import type { Outcome } from '../../daemon/protocol/classify';
import { ProjectViewReader } from '../../daemon/view/project-view';
import { createLogger } from '../../shared/logger';
import { ProjectKeys } from '../../shared/redis/keys';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';

/**
 * An upgrade from 0.2.0, whose data names a registration by its generation alone (no
 * identity, no revision): the streak a node recorded under the current registration
 * goes on, in Redis, from the node's held copy after a loss, and from a journal line
 * 0.2.0 wrote; a `failed` verdict 0.2.0 held is put back beside its registration.
 */
const log = createLogger({ level: 'silent' });
const FAIL: Outcome = { ok: false, code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', transient: false };
const POLICY = { failurePolicy: 'any' as const, threshold: 12, intervalMs: 7_200_000 };

let server: TestRedis;
let admin: Redis;
const dirs: string[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  for (const c of [...clients, admin]) c.disconnect();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await disposeAllRedis();
});

/** What 0.2.0 left: a credential of generation 3, n1's record of two failures, and its state file. */
async function left(keys: ProjectKeys): Promise<{ dir: string; now: number }> {
  const [s] = await admin.time();
  const now = Number(s) * 1000;
  const reason = (at: number, id: string) => JSON.stringify({ code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', at, attemptId: id });
  const credential = { account: 'acct', ciphertext: 'c', algorithm: 'rsa', keyId: 'k', generation: '3', registeredAt: String(now - 86_400_000) };
  const record = {
    consecutiveFailures: '2',
    reason: reason(now - 7_200_000, 'old-1'),
    latestReason: reason(now - 60_000, 'old-2'),
    lastAttemptAt: String(now - 60_000),
    lastAttemptId: 'old-2',
    attemptsTotal: '2',
    failuresTotal: '2',
    generation: '3',
  };
  await admin.hset(keys.credential, credential);
  await admin.hset(keys.node('n1'), record);
  await admin.zadd(keys.attempts('n1'), now - 7_200_000, 'old-1', now - 60_000, 'old-2');
  await admin.zadd(keys.nodes, now - 7_200_000, 'n1');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-upgrade-'));
  dirs.push(dir);
  const state = {
    credential: { ...credential, generation: 3, registeredAt: Number(credential.registeredAt) },
    projectFailed: false,
    verdict: { since: String(now - 30_000), epoch: '2', failedAt: String(now - 30_000), generation: '3', registeredAt: credential.registeredAt },
    redisClockOffsetMs: 0,
    lastAttemptAt: now - 60_000,
    lastSlot: null,
    nodeRecord: record,
    members: { n1: now - 7_200_000 },
    recent: [
      { nodeId: 'n1', attemptId: 'old-1', outcome: FAIL, generation: 3, atMs: now - 7_200_000 },
      { nodeId: 'n1', attemptId: 'old-2', outcome: FAIL, generation: 3, atMs: now - 60_000 },
    ],
  };
  writeFileSync(path.join(dir, 'state-n1.json'), JSON.stringify(state));
  return { dir, now };
}

async function node(keys: ProjectKeys, dir: string) {
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  clients.push(redis);
  await new Promise((resolve) => redis.once('ready', resolve));
  const disk = new LocalDisk(dir, log);
  const local = new LocalState(disk, 'n1');
  const recovery = new Recovery({ redis, keys, nodeId: 'n1', local, log, onRestored: () => undefined });
  return { local, recovery, sink: new ResultSink({ redis, keys, nodeId: 'n1', disk, local, recovery, log }) };
}

const view = (keys: ProjectKeys) => new ProjectViewReader({ redis: admin, keys, policy: POLICY, log }).read();

it('the next failure under the same registration is the third of the streak, and the view counts it', async () => {
  const keys = new ProjectKeys(testPrefix('up'), 'p');
  const { dir } = await left(keys);
  const n1 = await node(keys, dir);
  const credential = parseCredential(await admin.hgetall(keys.credential));
  expect(credential?.registration).toBe('g3');
  await n1.sink.write({ nodeId: 'n1', attemptId: 'new-1', outcome: FAIL, generation: 3, registration: credential?.registration }, 0);
  expect(await admin.hmget(keys.node('n1'), 'consecutiveFailures', 'attemptsTotal', 'registration')).toEqual(['3', '3', 'g3']);
  const v = await view(keys);
  expect(v.nodes.map((n) => [n.id, n.status, n.consecutiveFailures])).toEqual([['n1', 'degraded', 3]]);
});

it('after a loss, the held 0.2.0 record and credential come back with the streak, and the held verdict beside them', async () => {
  const keys = new ProjectKeys(testPrefix('up'), 'p');
  const { dir } = await left(keys);
  const n1 = await node(keys, dir);
  expect(n1.local.get().credential?.registration).toBe('g3');
  for (const key of await admin.keys(`${keys.base}:*`)) await admin.del(key);
  expect(await n1.recovery.restore()).toEqual(expect.arrayContaining(['credential', 'node', 'status']));
  expect(await admin.hmget(keys.node('n1'), 'consecutiveFailures', 'attemptsTotal')).toEqual(['2', '2']);
  expect(await admin.hget(keys.status, 'status')).toBe('failed');
  const v = await view(keys);
  expect(v.status).toBe('failed');
  expect(v.nodes[0]?.consecutiveFailures).toBe(2);
});

it('a journal line written by 0.2.0 (no registration) replays into the streak of its registration', async () => {
  const keys = new ProjectKeys(testPrefix('up'), 'p');
  const { dir, now } = await left(keys);
  writeFileSync(path.join(dir, 'journal-n1.jsonl'), `${JSON.stringify({ nodeId: 'n1', attemptId: 'journaled-1', outcome: FAIL, generation: 3, atMs: now })}\n`);
  const n1 = await node(keys, dir);
  await n1.sink.replay();
  expect(await admin.hmget(keys.node('n1'), 'consecutiveFailures', 'attemptsTotal')).toEqual(['3', '3']);
  expect(n1.sink.pending).toBe(0);
});
