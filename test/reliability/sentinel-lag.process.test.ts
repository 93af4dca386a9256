import Redis from 'ioredis';
import { BUSY_INTERVAL_MS, heartbeatsWaitMs, LEADER_ENV } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { attemptsMade, nodeFigures, printFigures, waitForMoreAttempts } from '../support/attempt-figures';
import { PausableProxy } from '../support/pausable-proxy';
import { waitFor } from '../../harness/wait';
import { disposeSentinelGroups, startSentinelGroup, type SentinelGroup } from '../support/redis-sentinel';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { recordedAttempts, startSidecars, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { ProjectKeys } from '../../shared/redis/keys';

/**
 * The hard case of Sentinel fail-over: while the replica lags. The
 * replication stream runs through a proxy that the test holds (as a slow or congested
 * link would), so for a few heartbeats the primary acknowledges attempts that never
 * reach the replica; then the primary is SIGKILLed and the lagging replica promoted.
 * Asynchronous replication (no WAIT, no min-replicas) loses those writes by design.
 *
 * Each agent keeps its latest recorded results and re-records them (idempotently) on
 * every reconnect, so the writes of that window come back. The test measures the
 * window and checks: nothing is lost, nothing is counted twice, and the project ends
 * registered.
 */
jest.setTimeout(300_000);

// Leases from the noise budget: a leader stalled for 3 s keeps its lease, so the
// leadership asserted here changes only where the test changes it. The heartbeat is
// the budget's shortest (BUSY_INTERVAL_MS): this test is about attempts made while Redis
// is away, each recorded once, and asserts no node's freshness (stale), which a stall
// could upset; an attempt still holds a stalled server's answer.
const INTERVAL_MS = BUSY_INTERVAL_MS;
let group: SentinelGroup;
let redis: Redis;
let link: PausableProxy;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  group = await startSentinelGroup({
    failoverTimeoutMs: 3000,
    replicaLink: async (primaryPort) => {
      link = new PausableProxy(primaryPort);
      await link.start();
      return link.port;
    },
  });
  redis = new Redis({
    sentinels: group.sentinelList.split(',').map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
    name: group.name,
    maxRetriesPerRequest: 3,
  });
  redis.on('error', () => undefined);
  const authRedis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'lag', password: 'pw-lag-1', capacity: 5 });
  const keyPrefix = testPrefix('lag');
  const keys = new ProjectKeys(keyPrefix, 'lagproject');
  await registerCredential(redis, keys, { account: 'lag', password: 'pw-lag-1', keyDir: testKeyDir(), defaultAlgorithm: 'rsa' });
  const primary = await group.currentPrimary();
  fixture = {
    project: 'lagproject',
    keyPrefix,
    keys,
    redisUrl: `redis://127.0.0.1:${primary.port}`,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'lag',
    password: 'pw-lag-1',
  };
  sidecars.push(
    ...(await startSidecars(
      fixture,
      ['l1', 'l2', 'l3'].map((id) => ({
        nodeId: id,
        interval: `${INTERVAL_MS}ms`,
        env: { CLOUDAUTH_REDIS_SENTINELS: group.sentinelList, CLOUDAUTH_REDIS_SENTINEL_NAME: group.name, ...LEADER_ENV },
      })),
    )),
  );
});

afterAll(async () => {
  if (process.env.DEBUG_SIDECARS) for (const s of sidecars) console.log(s.nodeId, s.output().split('\n').slice(-100).join('\n'));
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await link?.close();
  await closeAllAuthServers();
  await disposeSentinelGroups();
  await disposeAllRedis();
});

it('fails over to a lagging replica: the attempts of the unreplicated window are put back, none lost or doubled', async () => {
  await waitFor('the project to be registered', async () => (await redis.hget(fixture.keys.status, 'status')) === 'registered', 30_000, 200);
  await waitFor(
    'three attempts per node',
    async () => {
      for (const s of sidecars) if ((await recordedAttempts(redis, fixture.keys, s.nodeId)).length < 3) return false;
      return true;
    },
    heartbeatsWaitMs(3, INTERVAL_MS),
    200,
  );

  const oldPrimary = await group.primaryServer();
  const direct = new Redis({ port: oldPrimary.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  direct.on('error', () => undefined);
  const before = new Map<string, Set<string>>();
  for (const s of sidecars) before.set(s.nodeId, new Set(await recordedAttempts(direct, fixture.keys, s.nodeId)));
  // Hold the replication stream: the primary acknowledges what the replica never gets.
  link.pause();
  // The window: every node records attempts on the primary that the replica never gets.
  const window = new Map<string, string[]>();
  await waitFor(
    'two unreplicated attempts per node',
    async () => {
      for (const s of sidecars) {
        const now = await recordedAttempts(direct, fixture.keys, s.nodeId);
        window.set(
          s.nodeId,
          now.filter((id) => !before.get(s.nodeId)?.has(id)),
        );
      }
      return [...window.values()].every((w) => w.length >= 2);
    },
    heartbeatsWaitMs(2, INTERVAL_MS),
    200,
  );
  direct.disconnect();
  const killedAt = Date.now();
  await oldPrimary.kill();
  const promoted = await group.waitForFailover(oldPrimary.port, 30_000);
  const failoverMs = Date.now() - killedAt;
  await waitFor(
    'every sidecar ready on the new primary',
    async () => {
      for (const s of sidecars) if ((await s.get('/readyz')).status !== 200) return false;
      return true;
    },
    30_000,
    200,
  );
  // A few heartbeats on the new primary.
  await waitForMoreAttempts(sidecars, 3, heartbeatsWaitMs(3, INTERVAL_MS));
  await waitFor(
    'the project registered on the new primary',
    async () => (await redis.hget(fixture.keys.status, 'status')) === 'registered',
    heartbeatsWaitMs(1, INTERVAL_MS),
    200,
  );
  await Promise.all(sidecars.map((s) => s.stop()));

  const figures = await Promise.all(sidecars.map((s) => nodeFigures(redis, fixture.keys, s, INTERVAL_MS)));
  const windowSize = [...window.values()].reduce((a, w) => a + w.length, 0);
  const recovered = figures.reduce((a, f) => a + (window.get(f.node) ?? []).filter((id) => !f.lost.includes(id)).length, 0);
  printFigures('sentinel-lagging-replica', figures, {
    unreplicatedWindowAttempts: windowSize,
    recoveredFromWindow: recovered,
    failoverMs,
    newPrimaryPort: promoted.port,
  });

  expect(windowSize).toBeGreaterThan(0);
  for (const f of figures) {
    // The nodes put back the results the old primary acknowledged but never replicated
    // (each keeps its latest results and re-records them on reconnect): none is lost.
    expect(f.lost).toEqual([]);
    expect(f.duplicated).toBe(0);
    // Attempts made after the fail-over are all recorded.
    const made = attemptsMade((sidecars.find((s) => s.nodeId === f.node) as Sidecar).output());
    expect(f.recorded).toBeGreaterThanOrEqual(made.size - f.lost.length);
  }
});
