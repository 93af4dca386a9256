import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { BUSY_INTERVAL_MS, heartbeatsWaitMs, LEADER_LEASE_MS, LEADER_RENEW_MS } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { nodeFigures, printFigures } from '../support/attempt-figures';
import { PausableProxy } from '../support/pausable-proxy';
import { sleep, waitFor } from '../../harness/wait';
import { expectNeverTwoLeaders, leaders, saysLeader } from '../support/sidecar-metrics';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { realTime, redisConfig, silentLog, stepDownLog } from '../../harness/sidecar-parts';
import { recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { Aggregator } from '../../daemon/aggregator/aggregator';
import { ChangeEvents } from '../../shared/redis/change-event-subscriber';
import { LeaderElection } from '../../daemon/aggregator/leader-election';
import { ProjectViewReader } from '../../daemon/view/project-view';
import type { ProjectView } from '../../daemon/view/compute-view';
import { closeRedis, createRedis } from '../../shared/redis/connection';
import { createLogger } from '../../shared/logger';

/**
 * A leader cut off from Redis steps down and loses nothing. A TCP proxy sits between one sidecar
 * and Redis and holds every byte in both directions (the connection stays open,
 * nothing arrives — a partition as the sidecar sees it).
 *
 * 1. The partitioned sidecar leads; the others take over within lease + renew; the
 *    partitioned one steps down by its own deadline; when the partition heals there
 *    is one leader, and the attempts it journaled meanwhile are recorded once.
 * 2. A late write: a leader decides to write the status, and the partition holds that
 *    write until another sidecar has taken over. When it finally reaches Redis, the
 *    fenced write-status script refuses it (staleWritesRejected in the counters hash)
 *    and the status stays the new leader's.
 */
jest.setTimeout(300_000);

// Leases from the noise budget: a leader stalled for 3 s keeps its lease, so the
// leadership asserted here changes only where the test changes it. The heartbeat is
// the budget's shortest (BUSY_INTERVAL_MS): this test is about attempts made while Redis
// is away, each recorded once, and asserts no node's freshness (stale), which a stall
// could upset; an attempt still holds a stalled server's answer.
const LEASE_MS = LEADER_LEASE_MS;
const RENEW_MS = LEADER_RENEW_MS;
let server: TestRedis;
let redis: Redis;
let auth: ChildAuthServer;
const proxies: PausableProxy[] = [];
const sidecars: Sidecar[] = [];

async function project(name: string): Promise<ProjectFixture> {
  return registerProject({
    project: name,
    keyPrefix: testPrefix(name),
    redisUrl: server.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'part',
    password: 'pw-partition-1',
  });
}

function sidecarEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { CLOUDAUTH_LEADER_LEASE: `${LEASE_MS}ms`, CLOUDAUTH_LEADER_RENEW: `${RENEW_MS}ms`, ...extra };
}

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
  const authRedis = await startRedis();
  auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'part', password: 'pw-partition-1', capacity: 10 });
});

afterAll(async () => {
  for (const p of proxies) p.resume();
  await Promise.all(sidecars.map((s) => s.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

it('replaces a partitioned leader within lease + renew; healed, it follows and its journal is recorded once', async () => {
  const f = await project('partition');
  const proxy = new PausableProxy(server.port);
  await proxy.start();
  proxies.push(proxy);
  // p1 starts alone, so it leads; it reaches Redis only through the proxy.
  const p1 = await startSidecar({ ...f, redisUrl: proxy.url }, { nodeId: 'p1', interval: `${BUSY_INTERVAL_MS}ms`, env: sidecarEnv() });
  sidecars.push(p1);
  await waitFor('p1 to lead', async () => saysLeader((await p1.get('/metrics')).text), 20_000, 100);
  const group = [p1];
  for (const id of ['p2', 'p3']) {
    const s = await startSidecar(f, { nodeId: id, interval: `${BUSY_INTERVAL_MS}ms`, env: sidecarEnv() });
    sidecars.push(s);
    group.push(s);
  }
  await waitFor(
    'two attempts per node',
    async () => {
      for (const s of group) if ((await recordedAttempts(redis, f.keys, s.nodeId)).length < 2) return false;
      return true;
    },
    20_000,
    100,
  );
  const epochBefore = Number(await redis.get(f.keys.epoch));

  proxy.pause();
  const pausedAt = Date.now();
  const successor = (await waitFor(
    'p2 or p3 to take over',
    async () => {
      const now = await leaders(group.slice(1));
      return now.length === 1 ? now[0] : undefined;
    },
    // How fast is a printed figure (and failover-bench's target), not a bound here.
    30_000,
    50,
  )) as string;
  const takeoverMs = Date.now() - pausedAt;
  // The partitioned sidecar stepped down by its own deadline, Redis or not.
  await waitFor('p1 to stop claiming the lead', async () => !saysLeader((await p1.get('/metrics')).text), 30_000, 50);
  const stepDownMs = Date.now() - pausedAt;
  expect(p1.output()).toMatch(
    /"reason":"lease-expired".*"msg":"Stepped down as aggregator leader"|"msg":"Stepped down as aggregator leader".*"reason":"lease-expired"/,
  );
  // A few heartbeats while cut off: p1 keeps authenticating from its journal.
  await waitFor(
    'p1 to journal two attempts while cut off',
    async () => /fdl_cloudauth_journal_pending\{[^}]*\} ([2-9]|\d\d+)$/m.test((await p1.get('/metrics')).text),
    heartbeatsWaitMs(2, BUSY_INTERVAL_MS),
    100,
  );
  proxy.resume();
  const healedAt = Date.now();
  await waitFor('p1 ready again', async () => (await p1.get('/readyz')).status === 200, 20_000, 100);
  // Healed, p1 may try to take the lease for two renew periods: never two leaders, and the successor keeps it.
  await expectNeverTwoLeaders(group, 2 * RENEW_MS);
  await waitFor('the successor alone to lead', async () => (await leaders(group)).join() === successor, 30_000, 100);
  expect(Number(await redis.get(f.keys.epoch))).toBeGreaterThan(epochBefore);
  await waitFor('p1 journal replayed', async () => /fdl_cloudauth_journal_pending\{[^}]*\} 0$/m.test((await p1.get('/metrics')).text), 20_000, 100);
  const replayMs = Date.now() - healedAt;
  await Promise.all(group.map((s) => s.stop()));

  const figures = await Promise.all(group.map((s) => nodeFigures(redis, f.keys, s, BUSY_INTERVAL_MS)));
  printFigures('partition-leader', figures, { takeoverMs, stepDownMs, boundMs: LEASE_MS + RENEW_MS, replayAfterHealMs: replayMs, successor });
  for (const n of figures) {
    expect(n.duplicated).toBe(0);
    expect(n.lost).toEqual([]);
    expect(n.recorded).toBe(n.made);
  }
  // While cut off, p1 authenticated from its journal (its local timer spends up to a
  // 1 s ping timeout deciding Redis is away before it journals a slot; the figures
  // print any slot it missed).
  expect(figures[0]?.journaled).toBeGreaterThanOrEqual(1);
});

/** A reader that cuts the partition in at the worst moment: after a read that will lead to a write. */
class PartitioningReader extends ProjectViewReader {
  armed = false;
  onCut: (() => void) | undefined;

  override async read(): Promise<ProjectView> {
    const view = await super.read();
    if (this.armed && view.computedStatus === 'registered' && view.stored?.status !== 'registered') {
      this.armed = false;
      this.onCut?.();
    }
    return view;
  }
}

it("refuses the old leader's write that arrives after the partition, and counts it", async () => {
  const f = await project('latewrite');
  const proxy = new PausableProxy(server.port);
  await proxy.start();
  proxies.push(proxy);
  // The old leader: the daemon's own parts, in this process, reaching Redis through the proxy.
  const cfg = redisConfig(proxy.url, f.keyPrefix);
  const cmd = createRedis(cfg, { purpose: 'command' });
  const sub = createRedis(cfg, { purpose: 'subscriber' });
  cmd.on('error', () => undefined);
  sub.on('error', () => undefined);
  const events = new ChangeEvents({ subscriber: sub, keys: f.keys, log: silentLog });
  await events.start();
  const { log: electionLog, reasons: demoted } = stepDownLog();
  const election = new LeaderElection({ redis: cmd, events, keys: f.keys, log: electionLog, nodeId: 'old', leaseMs: LEASE_MS, renewMs: RENEW_MS, ...realTime });
  const reader = new PartitioningReader({ redis: cmd, keys: f.keys, log: silentLog, policy: { failurePolicy: 'any', threshold: 12, intervalMs: 1000 } });
  // The old leader's warnings, to tell whether it saw Redis refuse its write itself.
  const oldLeaderWarnings: string[] = [];
  const oldLeaderLog = createLogger({
    level: 'warn',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        oldLeaderWarnings.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  });
  const aggregator = new Aggregator({ redis: cmd, events, election, reader, log: oldLeaderLog, debounceMs: 10, sweepMs: 100, ...realTime });
  try {
    aggregator.start();
    await election.start();
    await waitFor('the in-process candidate to lead', () => election.isLeader, 10_000, 20);
    const oldEpoch = election.epoch as number;
    await waitFor('the old leader to write unregistered', async () => (await redis.hget(f.keys.status, 'status')) === 'unregistered', 10_000, 50);

    let cutAt = 0;
    reader.onCut = () => {
      proxy.pause();
      cutAt = Date.now();
    };
    reader.armed = true;
    const rejectedBefore = Number((await redis.hget(f.keys.counters, 'staleWritesRejected')) ?? 0);
    const group: Sidecar[] = [];
    for (const id of ['q1', 'q2']) {
      const s = await startSidecar(f, { nodeId: id, interval: `${BUSY_INTERVAL_MS}ms`, env: sidecarEnv() });
      sidecars.push(s);
      group.push(s);
    }
    // The nodes authenticate; the old leader reads "registered" and the partition holds its write.
    await waitFor('the partition to cut in before the write', () => cutAt > 0, 20_000, 20);
    await waitFor('a sidecar to take over', async () => (await leaders(group)).length === 1, 30_000, 50);
    const takeoverMs = Date.now() - cutAt;
    await waitFor('the new leader to write registered', async () => (await redis.hget(f.keys.status, 'status')) === 'registered', 10_000, 50);
    const newEpoch = Number(await redis.hget(f.keys.status, 'epoch'));
    expect(newEpoch).toBeGreaterThan(oldEpoch);

    // Heal: the held write reaches Redis now, with the old epoch.
    proxy.resume();
    await waitFor(
      'Redis to refuse the late write',
      async () => Number((await redis.hget(f.keys.counters, 'staleWritesRejected')) ?? 0) > rejectedBefore,
      10_000,
      20,
    );
    const rejected = Number(await redis.hget(f.keys.counters, 'staleWritesRejected')) - rejectedBefore;
    expect(rejected).toBe(1);
    expect(await redis.hget(f.keys.status, 'status')).toBe('registered');
    expect(Number(await redis.hget(f.keys.status, 'epoch'))).toBe(newEpoch);
    expect(election.isLeader).toBe(false);
    expect(demoted.length).toBeGreaterThanOrEqual(1);
    // The old leader saw the refusal itself when its command was still waiting (the
    // command timeout is 5 s); either way Redis counted it.
    await sleep(200);
    console.log(
      `figures partition-late-write oldEpoch=${oldEpoch} newEpoch=${newEpoch} takeoverMs=${takeoverMs} boundMs=${LEASE_MS + RENEW_MS} ` +
        `staleWritesRejected=${rejected} seenByOldLeader=${oldLeaderWarnings.filter((l) => l.includes('Redis refused a stale leader write')).length} demotions=${demoted.join(',')}`,
    );
  } finally {
    await aggregator.close();
    await election.close();
    await events.close();
    await closeRedis(cmd);
    await closeRedis(sub);
  }
});
