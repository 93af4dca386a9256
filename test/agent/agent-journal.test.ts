import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { JournalEntry } from '../../daemon/agent/journal';
import { nextSlot, stableOffset } from '../../shared/heartbeat-grid';
import { slotAttemptId } from '../../daemon/agent/schedule';
import { ProjectKeys } from '../../shared/redis/keys';
import { closeAllAgents, startAgent, storeCredential, type AgentUnderTest } from '../support/agent-harness';
import { FakeClock } from '../../harness/fake-clock';
import { HeldAuthClient, OK_ANSWER } from '../support/held-auth-client';
import { waitFor } from '../../harness/wait';
import { recordedAttempts } from '../../harness/sidecar';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';

/**
 * SPEC §4 in this process (the agent's time on a fake clock, Redis and BullMQ real):
 * with Redis killed, the slot timer authenticates on every slot of the grid and
 * journals the results; a restart of the agent while Redis is down keeps the journal;
 * when Redis returns the journal is replayed, in order, every result once, with the
 * times estimated when the attempts were made. (The fsync'ed file itself: journal.test.)
 */
jest.setTimeout(60_000);

const HOUR = 3_600_000;
let server: TestRedis;
let admin: Redis;

beforeAll(async () => {
  // The project's Redis keeps its data across a kill (AOF, fsync always), as the README asks.
  server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  admin = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  admin.on('error', () => undefined);
});

afterAll(async () => {
  await closeAllAgents();
  admin?.disconnect();
  await disposeAllRedis();
});

async function redisNow(): Promise<number> {
  const [s, us] = await admin.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

function journal(a: AgentUnderTest): JournalEntry[] {
  const file = path.join(a.config.journal.dir, 'journal-n1.jsonl');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as JournalEntry)
    : [];
}

/** Moves to the next slot's timer and waits for its journaled result. */
async function nextSlotJournaled(a: AgentUnderTest, count: number): Promise<void> {
  await a.clock.advanceToNext();
  await waitFor(`${count} results journaled`, () => a.agent.journalPending === count, 10_000, 10);
}

it('authenticates on every slot through a Redis outage and an agent restart, then replays everything once, in order', async () => {
  const keyPrefix = testPrefix('journal');
  const keys = new ProjectKeys(keyPrefix, 'p');
  await storeCredential(admin, keys);
  const clock = new FakeClock(Date.now());
  const auth = new HeldAuthClient();
  auth.auto = OK_ANSWER;
  const first = await startAgent({ redisUrl: server.url, keyPrefix, clock, auth });
  await waitFor('the catch-up recorded', async () => (await admin.zcard(keys.attempts('n1'))) === 1, 10_000, 20);
  expect(first.agent.ready).toBe(true);

  await server.kill();
  await waitFor('the agent to see Redis gone', () => first.redis.status !== 'ready', 10_000, 10);
  // GET /readyz answers 503 from here on.
  expect(first.agent.ready).toBe(false);
  const offset = stableOffset('p', 'n1', HOUR);
  const firstSlot = nextSlot(clock.now(), HOUR, offset);
  for (let k = 1; k <= 3; k++) await nextSlotJournaled(first, k);
  const beforeRestart = journal(first);
  expect(beforeRestart.map((e) => e.attemptId)).toEqual([0, 1, 2].map((k) => slotAttemptId(firstSlot + k * HOUR)));
  const metrics = await first.registry.metrics();
  expect(metrics).toMatch(/fdl_cloudauth_journal_pending\{project="p",node="n1"\} 3/);
  expect(metrics).toMatch(/fdl_cloudauth_redis_up\{project="p",node="n1"\} 0/);
  expect(first.logs()).toContain('Redis unreachable at heartbeat time: authenticating from the local journal');

  // Restart while Redis is still down: the journal survives, the grid goes on.
  await first.close();
  const second = await startAgent({ redisUrl: server.url, keyPrefix, clock, auth, journalDir: first.config.journal.dir });
  expect(second.agent.journalPending).toBe(3);
  await nextSlotJournaled(second, 4);
  const entries = journal(second);
  expect(entries.map((e) => e.attemptId)).toEqual([0, 1, 2, 3].map((k) => slotAttemptId(firstSlot + k * HOUR)));
  expect(entries.every((e) => e.outcome.ok)).toBe(true);

  await server.restart();
  await waitFor('the journal replayed', () => second.agent.journalPending === 0 && journal(second).length === 0, 20_000, 20);
  await waitFor('ready again (schedule back in place)', () => second.agent.ready, 10_000, 20);
  const replayedBy = await redisNow();
  const ids = await recordedAttempts(admin, keys, 'n1');
  const times = await Promise.all(ids.map(async (id) => Number(await admin.zscore(keys.attempts('n1'), id))));
  // Each once, in the order made, at the time estimated when it was made — capped at
  // Redis TIME (a recorded time is never in Redis's future): the fake clock ran hours ahead of Redis, so the estimates
  // of the later slots lie in Redis's future and are recorded at the replay's time.
  expect(ids.slice(1)).toEqual(entries.map((e) => e.attemptId));
  times.slice(1).forEach((t, i) => expect(t).toBe(Math.min(entries[i]?.atMs as number, t)));
  expect(times.every((t, i) => t <= replayedBy && (i === 0 || t >= (times[i - 1] as number)))).toBe(true);
  expect(await admin.hget(keys.node('n1'), 'attemptsTotal')).toBe(String(ids.length));
  expect(await admin.hget(keys.node('n1'), 'consecutiveFailures')).toBe('0');
  expect(second.logs()).toContain('Replayed journal into Redis');
});

it('records Redis time (R8), live and from the journal, whatever the node clock says', async () => {
  const TEN_MINUTES = 10 * 60_000;
  const keyPrefix = testPrefix('skew');
  const keys = new ProjectKeys(keyPrefix, 'p');
  await storeCredential(admin, keys);
  // The node's clock is 10 minutes ahead; a short interval keeps the fake slots near real time.
  const a = await startAgent({ redisUrl: server.url, keyPrefix, interval: '10s', clock: new FakeClock(Date.now() + TEN_MINUTES) });
  a.auth.auto = OK_ANSWER;
  await waitFor('a live attempt', async () => (await admin.hget(keys.node('n1'), 'lastAttemptAt')) !== null, 10_000, 20);
  expect(Math.abs(Number(await admin.hget(keys.node('n1'), 'lastAttemptAt')) - (await redisNow()))).toBeLessThan(5000);

  // Redis stops answering with its connections open: the slot's check gives up after 1 s.
  server.pause();
  for (const journaled of [1, 2]) {
    await a.clock.advanceToNext();
    await a.clock.advance(1000);
    await waitFor(`${journaled} results journaled`, () => a.agent.journalPending === journaled, 10_000, 10);
  }
  expect(a.logs()).toContain('Redis unreachable at heartbeat time: authenticating from the local journal');
  server.resume();
  // No reconnect to tell: the next slot's check finds Redis answering and replays.
  await a.clock.advanceToNext();
  await waitFor('the journal replayed', () => a.agent.journalPending === 0, 20_000, 20);
  const times = (await admin.zrange(keys.attempts('n1'), '0', '-1', 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number);
  expect(times.length).toBeGreaterThanOrEqual(3);
  // Had the node clock been used, every time would be ~600 000 ms ahead.
  const now = await redisNow();
  for (const t of times) expect(Math.abs(t - now)).toBeLessThan(60_000);
});

it('journal.dir refusing writes: recorded in Redis all the same; with Redis away too, every slot is attempted once and held in memory, and a stop says they are lost', async () => {
  const keyPrefix = testPrefix('nodisk');
  const keys = new ProjectKeys(keyPrefix, 'p');
  await storeCredential(admin, keys);
  // journal.dir under a regular file: no write and no mkdir can succeed (as a read-only or full disk).
  const base = mkdtempSync(path.join(os.tmpdir(), 'fdl-nodisk-'));
  writeFileSync(path.join(base, 'volume'), 'not a directory');
  const a = await startAgent({ redisUrl: server.url, keyPrefix, journalDir: path.join(base, 'volume', 'journal') });
  a.auth.auto = OK_ANSWER;
  await waitFor('the catch-up recorded in Redis', async () => (await admin.zcard(keys.attempts('n1'))) === 1, 10_000, 20);
  expect(a.agent.disk.writable).toBe(false);
  expect(await a.registry.metrics()).toMatch(/fdl_cloudauth_local_state_writable\{project="p",node="n1"\} 0/);

  await server.kill();
  await waitFor('the agent to see Redis gone', () => a.redis.status !== 'ready', 10_000, 10);
  const clockStart = a.clock.now();
  const callsBefore = a.auth.calls;
  // The disk's retry timer (a quarter interval) fires between slots: move timer by timer to each slot.
  for (let k = 1; k <= 2; k++) {
    while (a.agent.journalPending < k && a.clock.now() < clockStart + 3 * HOUR) await a.clock.advanceToNext();
    await waitFor(`${k} results held`, () => a.agent.journalPending >= k, 10_000, 10);
  }
  // One call per slot, every result held (none on disk).
  expect(a.auth.calls).toBe(callsBefore + a.agent.journalPending);
  const held = a.agent.journalPending;
  expect(a.logs()).not.toContain('Heartbeat slot failed');
  await a.close();
  expect(a.logs()).toContain('Stopping with results held only in memory (neither Redis nor the journal took them): they are lost');
  // Every result held was held in memory only: the stop names them all as lost.
  expect(a.logEntries().find((e) => String(e.msg).startsWith('Stopping with results held only in memory'))?.lost).toBe(held);
  await server.restart();
});
