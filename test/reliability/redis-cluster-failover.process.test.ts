import type { Cluster } from 'ioredis';
import { BUSY_INTERVAL_MS, heartbeatsWaitMs, LEADER_ENV } from '../../harness/noise-budget';
import { nodeFigures, printFigures } from '../support/attempt-figures';
import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { gauge, leaders } from '../support/sidecar-metrics';
import { startRedisCluster, type TestCluster } from '../support/redis-cluster';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { onePerAttempt, startSidecars, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { ProjectKeys } from '../../shared/redis/keys';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * Redis Cluster fail-over loses no attempt. Three primaries, each with a replica;
 * three sidecars reach the cluster through CLOUDAUTH_REDIS_CLUSTER_NODES and
 * authenticate every second. The primary that serves the project's hash-tag slot (so
 * every key of the project) is SIGKILLed mid-heartbeats; its replica is promoted by
 * the cluster itself (cluster-node-timeout 4 s: longer than the noise budget's stall). Meanwhile the agents journal, then
 * replay; a leader is elected again. Afterwards every attempt each sidecar made is
 * recorded exactly once — or the test prints which were lost or counted twice.
 */
// Above the sum of the bounded waits, so a wait that runs out names itself.
jest.setTimeout(300_000);

// Leases from the noise budget: a leader stalled for 3 s keeps its lease, so the
// leadership asserted here changes only where the test changes it. The heartbeat is
// the budget's shortest (BUSY_INTERVAL_MS): this test is about attempts made while Redis
// is away, each recorded once, and asserts no node's freshness (stale), which a stall
// could upset; an attempt still holds a stalled server's answer.
const INTERVAL_MS = BUSY_INTERVAL_MS;
const PASSWORD = 'cluster-failover-pw';
let cluster: TestCluster;
let redis: Cluster;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

async function recordedCounts(): Promise<number[]> {
  // One per attempt: a slot is recorded under both of its names (SPEC R2, mixed versions).
  return Promise.all(sidecars.map(async (s) => onePerAttempt(await redis.zrange(fixture.keys.attempts(s.nodeId), '0', '-1')).length));
}

beforeAll(async () => {
  cluster = await startRedisCluster(3, { replicas: 1 });
  redis = await cluster.client();
  redis.on('error', () => undefined);
  const authRedis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'cf', password: PASSWORD, capacity: 5 });
  const keyPrefix = testPrefix('cf');
  const keys = new ProjectKeys(keyPrefix, 'cfproject');
  await registerCredential(redis, keys, { account: 'cf', password: PASSWORD, keyDir: testKeyDir(), defaultAlgorithm: 'rsa' });
  const first = cluster.nodes[0];
  fixture = {
    project: 'cfproject',
    keyPrefix,
    keys,
    redisUrl: `redis://127.0.0.1:${first?.port}`,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'cf',
    password: PASSWORD,
  };
  sidecars.push(
    ...(await startSidecars(
      fixture,
      ['f1', 'f2', 'f3'].map((id) => ({
        nodeId: id,
        interval: `${INTERVAL_MS}ms`,
        env: { CLOUDAUTH_REDIS_CLUSTER_NODES: cluster.nodeList, ...LEADER_ENV },
      })),
    )),
  );
});

afterAll(async () => {
  if (process.env.DEBUG_SIDECARS) for (const s of sidecars) console.log(s.nodeId, s.output().split('\n').slice(-100).join('\n'));
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

it('survives SIGKILL of the primary holding the project: its replica takes over, every attempt recorded once', async () => {
  const first = sidecars[0] as Sidecar;
  await waitFor('the project to be registered', async () => (JSON.parse((await first.get('/status')).text) as StatusJson).status === 'registered', 40_000, 200);
  await waitFor('one leader', async () => (await leaders(sidecars)).length === 1, 30_000, 200);
  await waitFor('three attempts per node', async () => (await recordedCounts()).every((n) => n >= 3), heartbeatsWaitMs(3, INTERVAL_MS), 200);

  const owner = await cluster.nodeForKey(fixture.keys.status);
  const epochBefore = Number(await redis.get(fixture.keys.epoch));
  const killedAt = Date.now();
  await owner.kill();
  await cluster.waitUntilHealthy(60_000);
  const promoted = await cluster.nodeForKey(fixture.keys.status);
  const failoverMs = Date.now() - killedAt;
  expect(promoted.port).not.toBe(owner.port);

  await waitFor(
    'every sidecar ready on the promoted replica',
    async () => {
      for (const s of sidecars) if ((await s.get('/readyz')).status !== 200) return false;
      return true;
    },
    60_000,
    200,
  );
  const readyMs = Date.now() - killedAt;
  await waitFor('one leader after the fail-over', async () => (await leaders(sidecars)).length === 1, 60_000, 100);
  const leaderMs = Date.now() - killedAt;
  // Three more heartbeats per node recorded on the promoted replica.
  const base = await recordedCounts();
  await waitFor(
    'three more attempts per node',
    async () => (await recordedCounts()).every((n, i) => n >= (base[i] ?? 0) + 3),
    heartbeatsWaitMs(3, INTERVAL_MS),
    200,
  );
  await waitFor(
    'every journal empty',
    async () => {
      for (const s of sidecars) if ((await gauge(s, 'fdl_cloudauth_journal_pending')) !== 0) return false;
      return true;
    },
    30_000,
    200,
  );
  await Promise.all(sidecars.map((s) => s.stop()));

  const figures = await Promise.all(sidecars.map((s) => nodeFigures(redis, fixture.keys, s, INTERVAL_MS)));
  const epochAfter = Number(await redis.get(fixture.keys.epoch));
  printFigures('redis-cluster-failover', figures, {
    failoverMs,
    readyAgainMs: readyMs,
    leaderAgainMs: leaderMs,
    killedPort: owner.port,
    promotedPort: promoted.port,
    epochBefore,
    epochAfter,
  });

  for (const f of figures) {
    expect(f.made).toBeGreaterThanOrEqual(6);
    expect(f.duplicated).toBe(0);
    expect(f.lost).toEqual([]);
    expect(f.recorded).toBe(f.made);
  }
  expect(epochAfter).toBeGreaterThanOrEqual(epochBefore);
  expect(await redis.hget(fixture.keys.status, 'status')).toBe('registered');
});
