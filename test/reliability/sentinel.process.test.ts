import Redis from 'ioredis';
import { BUSY_INTERVAL_MS, heartbeatsWaitMs, LEADER_LEASE_MS, LEADER_RENEW_MS } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { nodeFigures, printFigures, waitForMoreAttempts } from '../support/attempt-figures';
import { waitFor } from '../../harness/wait';
import { gauge, leaders } from '../support/sidecar-metrics';
import { disposeSentinelGroups, startSentinelGroup, type SentinelGroup } from '../support/redis-sentinel';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { recordedAttempts, startSidecars, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { ProjectKeys } from '../../shared/redis/keys';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * Sentinel fail-over loses no attempt: the project's Redis is a primary + replica watched by three
 * sentinels; three sidecars reach it through Sentinel (CLOUDAUTH_REDIS_SENTINELS).
 * The primary is SIGKILLed while the nodes authenticate every second. The sentinels
 * promote the replica; meanwhile the agents authenticate from their journals, then
 * replay them; a leader is elected on the new primary. Afterwards every attempt each
 * sidecar made is recorded exactly once — or the test prints which were lost.
 *
 * Replication is asynchronous (no min-replicas, no WAIT): an attempt the old primary
 * acknowledged in the last moment before the kill may never reach the replica, and
 * no journal holds it (it was acknowledged). The figures show whether that happened.
 */
jest.setTimeout(300_000);

// Leases from the noise budget: a leader stalled for 3 s keeps its lease, so the
// leadership asserted here changes only where the test changes it. The heartbeat is
// the budget's shortest (BUSY_INTERVAL_MS): this test is about attempts made while Redis
// is away, each recorded once, and asserts no node's freshness (stale), which a stall
// could upset; an attempt still holds a stalled server's answer.
const INTERVAL_MS = BUSY_INTERVAL_MS;
const LEASE_MS = LEADER_LEASE_MS;
const RENEW_MS = LEADER_RENEW_MS;
const PASSWORD = 'sentinel-pw-1';
let group: SentinelGroup;
let redis: Redis;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  group = await startSentinelGroup({ failoverTimeoutMs: 3000 });
  redis = new Redis({
    sentinels: group.sentinelList.split(',').map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
    name: group.name,
    maxRetriesPerRequest: 3,
  });
  redis.on('error', () => undefined);
  const authRedis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'sentinel', password: PASSWORD, capacity: 5 });
  const keyPrefix = testPrefix('sentinel');
  const keys = new ProjectKeys(keyPrefix, 'sproject');
  await registerCredential(redis, keys, { account: 'sentinel', password: PASSWORD, keyDir: testKeyDir(), defaultAlgorithm: 'rsa' });
  const primary = await group.currentPrimary();
  fixture = {
    project: 'sproject',
    keyPrefix,
    keys,
    redisUrl: `redis://127.0.0.1:${primary.port}`,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'sentinel',
    password: PASSWORD,
  };
  sidecars.push(
    ...(await startSidecars(
      fixture,
      ['s1', 's2', 's3'].map((id) => ({
        nodeId: id,
        interval: `${INTERVAL_MS}ms`,
        env: {
          CLOUDAUTH_REDIS_SENTINELS: group.sentinelList,
          CLOUDAUTH_REDIS_SENTINEL_NAME: group.name,
          CLOUDAUTH_LEADER_LEASE: `${LEASE_MS}ms`,
          CLOUDAUTH_LEADER_RENEW: `${RENEW_MS}ms`,
        },
      })),
    )),
  );
});

afterAll(async () => {
  if (process.env.DEBUG_SIDECARS) for (const s of sidecars) console.log(s.nodeId, s.output().split('\n').slice(-100).join('\n'));
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeSentinelGroups();
  await disposeAllRedis();
});

it('survives SIGKILL of the primary: keeps authenticating, re-elects a leader, records every attempt once', async () => {
  const first = sidecars[0] as Sidecar;
  await waitFor('the project to be registered', async () => (JSON.parse((await first.get('/status')).text) as StatusJson).status === 'registered', 30_000, 200);
  await waitFor('one leader', async () => (await leaders(sidecars)).length === 1, 20_000, 200);
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
  const epochBefore = Number(await redis.get(fixture.keys.epoch));
  const killedAt = Date.now();
  await oldPrimary.kill();
  const promoted = await group.waitForFailover(oldPrimary.port, 30_000);
  const failoverMs = Date.now() - killedAt;

  // Every sidecar is ready again on the new primary, its journal replayed.
  await waitFor(
    'every sidecar ready on the new primary',
    async () => {
      for (const s of sidecars) if ((await s.get('/readyz')).status !== 200) return false;
      return true;
    },
    30_000,
    200,
  );
  const readyMs = Date.now() - killedAt;
  await waitFor('one leader on the new primary', async () => (await leaders(sidecars)).length === 1, 30_000, 100);
  const leaderMs = Date.now() - killedAt;
  // A few more heartbeats on the new primary (the journals are then replayed and empty).
  await waitForMoreAttempts(sidecars, 3, heartbeatsWaitMs(3, INTERVAL_MS));
  await waitFor(
    'every journal empty',
    async () => {
      for (const s of sidecars) if ((await gauge(s, 'fdl_cloudauth_journal_pending')) !== 0) return false;
      return true;
    },
    20_000,
    200,
  );
  await Promise.all(sidecars.map((s) => s.stop()));

  const figures = await Promise.all(sidecars.map((s) => nodeFigures(redis, fixture.keys, s, INTERVAL_MS)));
  const epochAfter = Number(await redis.get(fixture.keys.epoch));
  printFigures('sentinel-failover', figures, {
    failoverMs,
    readyAgainMs: readyMs,
    leaderAgainMs: leaderMs,
    newPrimaryPort: promoted.port,
    epochBefore,
    epochAfter,
  });

  for (const f of figures) {
    expect(f.made).toBeGreaterThanOrEqual(5);
    // Exactly once: nothing counted twice; what was made is recorded.
    expect(f.duplicated).toBe(0);
    expect(f.lost).toEqual([]);
    expect(f.recorded).toBe(f.made);
  }
  expect(epochAfter).toBeGreaterThanOrEqual(epochBefore);
  expect(await redis.hget(fixture.keys.status, 'status')).toBe('registered');
  for (const s of sidecars) expect(s.output()).toContain('Synchronised with Redis');
});
