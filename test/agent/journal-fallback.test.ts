import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { closeAllAuthServers, createAccount, startInProcessAuthServer } from '../support/authserver';
import { waitFor } from '../support/ports';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../support/redis-server';
import { readNode, recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../support/sidecar';
import type { JournalEntry } from '../../daemon/agent/journal';

/**
 * SPEC §4: with Redis killed for several intervals the node keeps authenticating on
 * time from its own timer and journals the results; a restart of the sidecar while
 * Redis is down keeps the journal; when Redis returns every result is in Redis, in
 * order, none twice.
 */
jest.setTimeout(90_000);

const INTERVAL_MS = 2000;
let projectRedis: TestRedis;
let redis: Redis;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  // The project's Redis keeps its data across a kill (AOF, fsync always), as the README
  // asks operators to run it; the authorization server has a Redis of its own.
  projectRedis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  const authRedis = await startRedis();
  redis = new Redis(projectRedis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  redis.on('error', () => undefined);
  const auth = await startInProcessAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'journal', password: 'pw-journal-1', capacity: 5 });
  fixture = await registerProject({
    project: 'journal',
    keyPrefix: testPrefix('journal'),
    redisUrl: projectRedis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'journal',
    password: 'pw-journal-1',
  });
});

afterAll(async () => {
  if (process.env.DEBUG_SIDECARS) for (const s of sidecars) console.log(s.nodeId, s.output().split('\n').slice(-60).join('\n'));
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

function journalEntries(dir: string): JournalEntry[] {
  const file = path.join(dir, 'journal-j1.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalEntry);
}

it('authenticates on time through a Redis outage and a sidecar restart, then replays everything once, in order', async () => {
  const first = await startSidecar(fixture, { nodeId: 'j1', interval: '2s' });
  sidecars.push(first);
  await waitFor('two attempts recorded', async () => (await recordedAttempts(redis, fixture.keys, 'j1')).length >= 2, 30_000, 100);

  await projectRedis.kill();
  await waitFor('the sidecar to report not ready', async () => (await first.get('/readyz')).status === 503, 10_000, 100);
  // Heartbeats go on from the journal: wait for them, however slow the machine is.
  await waitFor('three attempts journaled while Redis is down', () => journalEntries(first.journalDir).length >= 3, 30_000, 100);
  const beforeRestart = journalEntries(first.journalDir);
  expect((await first.get('/metrics')).text).toMatch(/fdl_cloudauth_journal_pending\{project="journal",node="j1"\} [1-9]/);
  expect((await first.get('/metrics')).text).toMatch(/fdl_cloudauth_redis_up\{project="journal",node="j1"\} 0/);

  // Restart the sidecar while Redis is still down: the journal survives it.
  expect(await first.stop()).toBe(0);
  const second = await startSidecar(fixture, { nodeId: 'j1', interval: '2s', journalDir: first.journalDir });
  sidecars.push(second);
  await waitFor('three more attempts journaled after the restart', () => journalEntries(first.journalDir).length >= beforeRestart.length + 3, 30_000, 100);
  const journal = journalEntries(first.journalDir);
  expect(journal.slice(0, beforeRestart.length).map((e) => e.attemptId)).toEqual(beforeRestart.map((e) => e.attemptId));
  // On time: while a sidecar runs, an attempt per slot of the grid, give or take one
  // slot. How long the restart itself takes depends on the machine, so the gap across
  // it is not judged.
  const slotsOf = (entries: JournalEntry[]): number[] => entries.filter((e) => e.attemptId.startsWith('repeat:')).map((e) => Number(e.attemptId.split(':')[2]));
  for (const slots of [slotsOf(beforeRestart), slotsOf(journal.slice(beforeRestart.length))]) {
    for (let i = 1; i < slots.length; i++) {
      const gap = (slots[i] as number) - (slots[i - 1] as number);
      expect(gap).toBeGreaterThan(0);
      expect(gap).toBeLessThanOrEqual(2 * INTERVAL_MS);
    }
  }
  expect(journal.every((e) => e.outcome.ok)).toBe(true);

  await projectRedis.restart();
  await waitFor('the journal to be replayed', async () => journalEntries(first.journalDir).length === 0, 30_000, 100);
  await waitFor('the sidecar to be ready again', async () => (await second.get('/readyz')).status === 200, 20_000, 100);

  const recorded = await recordedAttempts(redis, fixture.keys, 'j1');
  for (const entry of journal) expect(recorded.filter((id) => id === entry.attemptId)).toHaveLength(1);
  // In order: the attempts zset is ordered by attempt time; the journal's order is kept.
  const positions = journal.map((e) => recorded.indexOf(e.attemptId));
  expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  const record = await readNode(redis, fixture.keys, 'j1');
  expect(record?.attemptsTotal).toBe(recorded.length);
  expect(record?.consecutiveFailures).toBe(0);
  // Recorded times are the journaled estimates, not the replay time.
  const lastJournaled = journal[journal.length - 1] as JournalEntry;
  expect(Number(await redis.zscore(fixture.keys.attempts('j1'), lastJournaled.attemptId))).toBe(lastJournaled.atMs);
  expect(second.output()).toContain('Replayed journal into Redis');
});
