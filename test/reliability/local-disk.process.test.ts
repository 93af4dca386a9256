import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { createAccount, spawnAuthServer, TEST_ADMIN_TOKEN, type ChildAuthServer } from '../../harness/authserver';
import { nodeFigures, printFigures } from '../support/attempt-figures';
import { HEALTHY_INTERVAL_MS, heartbeatsWaitMs, LEADER_ENV } from '../../harness/noise-budget';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { gauge } from '../support/sidecar-metrics';
import { recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { fillDisk, mountable, mountSmallDisk, remount, unmountAll } from '../support/small-disk';

/**
 * The node's own disk (`journal.dir`) as a fault domain, on real sidecars,
 * a real Redis and the reference server as a child process. Removed, read-only or full,
 * the directory never keeps an attempt out of Redis; with Redis away too, attempts are
 * still made on time, held in memory and recorded once Redis returns; the server is
 * called once per attempt (counted from its request log, by request id = attempt id).
 * Default noise-budget timing (8 s heartbeat, 5 s auth timeout, LEADER_ENV): nothing
 * here is about speed. The read-only and full-disk cases mount a tmpfs (root); where `mount` is not
 * permitted they are skipped, saying so.
 */
jest.setTimeout(180_000);

const ACCOUNT = 'disk-acct';
const PASSWORD = 'disk-account-pw-21';
const canMount = mountable();
const onMount = canMount.ok ? it : it.skip;
if (!canMount.ok) console.warn(`Skipping the read-only and full-disk tests of local-disk.process.test.ts: ${canMount.why}`);

let server: TestRedis;
let redis: Redis;
let auth: ChildAuthServer;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  // The project's Redis keeps its data across a stop (AOF), as the README asks.
  server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  const authRedis = await startRedis();
  auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, TEST_ADMIN_TOKEN, { account: ACCOUNT, password: PASSWORD, capacity: 10 });
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await auth?.stop();
  redis?.disconnect();
  await disposeAllRedis();
  unmountAll();
});

async function project(name: string): Promise<ProjectFixture> {
  return registerProject({
    project: name,
    keyPrefix: testPrefix(name),
    redisUrl: server.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: ACCOUNT,
    password: PASSWORD,
  });
}

async function sidecar(f: ProjectFixture, nodeId: string, journalDir: string): Promise<Sidecar> {
  const s = await startSidecar(f, { nodeId, journalDir, env: { ...LEADER_ENV } });
  sidecars.push(s);
  return s;
}

/** Calls the reference server answered for a node, by request id (the agent sends its attempt id). */
function serverCalls(nodeId: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of auth.stdout().split('\n')) {
    if (!line.includes('"request answered"') || !line.includes('/v1/authenticate')) continue;
    const entry = JSON.parse(line) as { nodeId?: string; requestId?: string };
    if (entry.nodeId !== nodeId || !entry.requestId) continue;
    calls.set(entry.requestId, (calls.get(entry.requestId) ?? 0) + 1);
  }
  return calls;
}

async function attemptsTotal(f: ProjectFixture, nodeId: string): Promise<number> {
  return Number((await redis.hget(f.keys.node(nodeId), 'attemptsTotal')) ?? 0);
}

async function metric(s: Sidecar, line: RegExp): Promise<number> {
  const m = line.exec((await s.get('/metrics')).text);
  return Number(m?.[1] ?? NaN);
}

const writeErrors = (s: Sidecar, op: string) => metric(s, new RegExp(`^fdl_cloudauth_local_state_write_errors_total\\{[^}]*op="${op}"[^}]*\\} (\\d+)$`, 'm'));

/**
 * Every attempt the server answered is recorded in Redis, once; the server was asked
 * once per attempt; no slot of the grid was missed. Prints the figures for docs/reliability.md.
 */
async function expectEveryCallRecordedOnce(label: string, f: ProjectFixture, s: Sidecar): Promise<void> {
  const calls = serverCalls(s.nodeId);
  const recorded = await recordedAttempts(redis, f.keys, s.nodeId);
  expect([...calls.entries()].filter(([, n]) => n > 1)).toEqual([]);
  expect([...calls.keys()].sort()).toEqual([...recorded].sort());
  expect(await attemptsTotal(f, s.nodeId)).toBe(recorded.length);
  const figures = await nodeFigures(redis, f.keys, s, HEALTHY_INTERVAL_MS);
  expect(figures.lost).toEqual([]);
  expect(figures.duplicated).toBe(0);
  expect(figures.repeated).toEqual([]);
  expect(figures.missedSlots).toEqual([]);
  printFigures(label, [figures], { serverCalls: [...calls.values()].reduce((a, b) => a + b, 0), maxCallsPerAttempt: Math.max(...calls.values()) });
}

/**
 * `rm -rf` as a tmp cleaner runs it, again until the directory is gone: a file the
 * sidecar writes meanwhile makes the last rmdir fail with ENOTEMPTY, and rmSync's own
 * `maxRetries` only repeats that rmdir without emptying the directory again.
 */
function removeTree(dir: string): void {
  for (let tries = 1; ; tries += 1) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || tries >= 100) throw error;
    }
  }
}

it('journal.dir removed while Redis answers: every attempt is still recorded, the directory comes back (0700) and the log says so', async () => {
  const f = await project('disk-removed');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-journal-removed-'));
  const s = await sidecar(f, 'rm1', dir);
  await waitFor('the first attempt recorded', async () => (await attemptsTotal(f, 'rm1')) >= 1, heartbeatsWaitMs(1));

  // A tmp cleaner or a lost volume. The sidecar writes its state file just after the
  // attempt recorded above, so it may add a file while the directory is being emptied.
  removeTree(dir);
  const before = await attemptsTotal(f, 'rm1');
  await waitFor('two more attempts recorded in Redis', async () => (await attemptsTotal(f, 'rm1')) >= before + 2, heartbeatsWaitMs(3));
  // Seen within the interval: the directory is created again by the next local write at the latest.
  expect(s.output()).toContain('The local state directory was gone: created it again (mode 0700)');
  expect(existsSync(path.join(dir, 'state-rm1.json'))).toBe(true);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  expect(await writeErrors(s, 'state')).toBeGreaterThanOrEqual(1);
  expect(await gauge(s, 'fdl_cloudauth_local_state_writable')).toBe(1);
  await s.stop();
  await expectEveryCallRecordedOnce('local-disk-removed', f, s);
});

onMount(
  'journal.dir read-only while Redis answers: attempts recorded, writable 0, /readyz names the failing check (the directory and EROFS in the log only); writable again, ready again',
  async () => {
    const f = await project('disk-ro');
    const dir = mountSmallDisk(256);
    const s = await sidecar(f, 'ro1', dir);
    await waitFor('the first attempt recorded', async () => (await attemptsTotal(f, 'ro1')) >= 1, heartbeatsWaitMs(1));
    await waitFor('ready', async () => (await s.get('/readyz')).status === 200, heartbeatsWaitMs(1));

    remount(dir, 'ro');
    const before = await attemptsTotal(f, 'ro1');
    await waitFor('two more attempts recorded in Redis', async () => (await attemptsTotal(f, 'ro1')) >= before + 2, heartbeatsWaitMs(3));
    expect(await gauge(s, 'fdl_cloudauth_local_state_writable')).toBe(0);
    expect(await writeErrors(s, 'state')).toBeGreaterThanOrEqual(1);
    const ready = await s.get('/readyz');
    expect(ready.status).toBe(503);
    const body = JSON.parse(ready.text) as { status: string; failing: string[]; checks: Record<string, boolean> };
    expect(body.checks).toEqual(expect.objectContaining({ redis: true, localState: false }));
    expect(body).toEqual(expect.objectContaining({ status: 'not ready', failing: ['localState'] }));
    // The path and the OS error are for the log, not for whoever reaches the probe (issue 28).
    expect(ready.text).not.toContain(dir);
    expect(ready.text).not.toContain('EROFS');
    expect(s.output()).toContain('Cannot write the local state directory (journal.dir)');
    expect(s.output()).toContain('EROFS');

    remount(dir, 'rw');
    await waitFor('writable again', async () => (await gauge(s, 'fdl_cloudauth_local_state_writable')) === 1, heartbeatsWaitMs(1));
    await waitFor('ready again', async () => (await s.get('/readyz')).status === 200, heartbeatsWaitMs(1));
    expect(s.output()).toContain('The local state directory takes writes again');
    await s.stop();
    await expectEveryCallRecordedOnce('local-disk-read-only', f, s);
  },
);

onMount('journal.dir full (ENOSPC) while Redis is away: attempts made on every slot, held in memory, recorded once when Redis returns', async () => {
  const f = await project('disk-full');
  const dir = mountSmallDisk(16);
  const s = await sidecar(f, 'full1', dir);
  await waitFor('the first attempt recorded', async () => (await attemptsTotal(f, 'full1')) >= 1, heartbeatsWaitMs(1));

  fillDisk(dir);
  await server.stop();
  const callsBefore = serverCalls('full1').size;
  // Attempts go on from the slot timer: each is a slot of the grid, one after the other.
  await waitFor('three attempts made while Redis is away', () => serverCalls('full1').size >= callsBefore + 3, heartbeatsWaitMs(4));
  await waitFor('three results held', async () => (await gauge(s, 'fdl_cloudauth_journal_pending')) >= 3, heartbeatsWaitMs(1));
  expect(await gauge(s, 'fdl_cloudauth_local_state_writable')).toBe(0);
  expect(await writeErrors(s, 'journal')).toBeGreaterThanOrEqual(1);
  expect(s.output()).toContain('Journal not written: the result is held in memory until Redis or the disk returns (a restart now loses it)');
  expect(s.output()).not.toContain('Heartbeat slot failed');

  await server.restart();
  await waitFor('the held results replayed', async () => (await gauge(s, 'fdl_cloudauth_journal_pending')) === 0, heartbeatsWaitMs(2));
  await s.stop();
  // On time: no slot of the grid missed while Redis was away (missedSlots), each asked once.
  await expectEveryCallRecordedOnce('local-disk-full-redis-away', f, s);
});
