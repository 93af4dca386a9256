import type { Cluster } from 'ioredis';
import { heartbeatsWaitMs, HEALTHY_INTERVAL_MS, LEADER_ENV } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { waitFor } from '../../harness/wait';
import { startRedisCluster, type TestCluster } from '../support/redis-cluster';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { startSidecars, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { ProjectKeys } from '../../shared/redis/keys';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * SPEC §10: the project on a three-primary Redis Cluster. Three sidecar
 * processes connect with CLOUDAUTH_REDIS_CLUSTER_NODES; the aggregator's core story
 * (a node leaves the allow-list, degrades with 30003, fails at the threshold, register
 * clears it) runs as on one Redis, and `status --json` reads the cluster. Every key of
 * the project — node records, lease, epoch, BullMQ queues — lives in the one slot of
 * the project's hash tag, which is what lets the Lua scripts run there.
 */
jest.setTimeout(180_000);

const THRESHOLD = 3;
const PASSWORD = 'cluster-pw-rc';
const IPS: Record<string, string> = { c1: '10.2.0.1', c2: '10.2.0.2', c3: '10.2.0.3' };
let cluster: TestCluster;
let redis: Cluster;
let auth: ChildAuthServer;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

function env(): Record<string, string> {
  return {
    CLOUDAUTH_PROJECT: fixture.project,
    CLOUDAUTH_REDIS_CLUSTER_NODES: cluster.nodeList,
    CLOUDAUTH_REDIS_KEY_PREFIX: fixture.keyPrefix,
    CLOUDAUTH_FAILURE_THRESHOLD: String(THRESHOLD),
    CLOUDAUTH_HEARTBEAT_INTERVAL: `${HEALTHY_INTERVAL_MS}ms`,
  };
}

async function statusJson(): Promise<StatusJson> {
  const s = sidecars.find((x) => x.running) as Sidecar;
  return JSON.parse((await s.get('/status')).text) as StatusJson;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = await cluster.client();
  // The reference server keeps its accounts in a plain Redis of its own.
  const authRedis = await startRedis();
  auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'rc', password: PASSWORD, capacity: 5, allowedIps: ['10.2.0.0/24'] });
  const keyPrefix = testPrefix('rc');
  const keys = new ProjectKeys(keyPrefix, 'rcproject');
  await registerCredential(redis, keys, { account: 'rc', password: PASSWORD, keyDir: testKeyDir(), defaultAlgorithm: 'rsa' });
  const first = cluster.nodes[0];
  fixture = {
    project: 'rcproject',
    keyPrefix,
    keys,
    redisUrl: `redis://127.0.0.1:${first?.port}`,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'rc',
    password: PASSWORD,
  };
  sidecars.push(
    ...(await startSidecars(
      fixture,
      ['c1', 'c2', 'c3'].map((id) => ({
        nodeId: id,
        env: {
          CLOUDAUTH_REDIS_CLUSTER_NODES: cluster.nodeList,
          CLOUDAUTH_NODE_IP: IPS[id] as string,
          ...LEADER_ENV,
          CLOUDAUTH_FAILURE_THRESHOLD: String(THRESHOLD),
        },
      })),
    )),
  );
});

afterAll(async () => {
  if (process.env.DEBUG_SIDECARS) for (const s of sidecars) console.log(s.nodeId, s.output().split('\n').slice(-80).join('\n'));
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

it('registers through the cluster, with every project key (BullMQ included) in the one slot of the hash tag', async () => {
  // The project is registered once any node succeeds; the other two record their
  // first attempts a moment later (three processes starting on a loaded machine).
  await waitFor(
    'the project to be registered with all three nodes recorded',
    async () => {
      const s = await statusJson();
      return s.status === 'registered' && s.nodes.length === 3;
    },
    40_000,
    200,
  );
  const owner = await cluster.nodeForKey(fixture.keys.status);
  // Every key of the project (BullMQ's included) sits on the node of the hash tag's slot.
  const perNodeKeys = () =>
    Promise.all(
      cluster.nodes.map(async (n) => {
        const c = new (await import('ioredis')).default({ port: n.port, host: n.host, maxRetriesPerRequest: 0 });
        try {
          return { port: n.port, keys: await c.keys(`${fixture.keyPrefix}:*`) };
        } finally {
          c.disconnect();
        }
      }),
    );
  const expected = [fixture.keys.leader, fixture.keys.epoch, fixture.keys.credential, fixture.keys.node('c1')];
  // The leader key exists while a lease is held: a leader slowed past its lease by a
  // loaded machine leaves none for a moment, so wait for a moment when every key exists.
  const perNode = (await waitFor(
    'the leader, epoch, credential, node and BullMQ keys to exist together',
    async () => {
      const found = await perNodeKeys();
      const all = found.flatMap((n) => n.keys);
      return expected.every((k) => all.includes(k)) && all.some((k) => k.startsWith(`${fixture.keys.bullPrefix}:node-c1:`)) ? found : undefined;
    },
    30_000,
    200,
  )) as Awaited<ReturnType<typeof perNodeKeys>>;
  const holders = perNode.filter((n) => n.keys.length > 0);
  expect(holders.map((h) => h.port)).toEqual([owner.port]);
  const keys = holders[0]?.keys ?? [];
  expect(keys).toEqual(expect.arrayContaining(expected));
  expect(keys.some((k) => k.startsWith(`${fixture.keys.bullPrefix}:node-c1:`))).toBe(true);
  console.log(`redis-cluster: ${keys.length} project keys, all on node :${owner.port} of ${cluster.nodes.length} primaries`);

  const cli = await runCli(['status', '--json'], env());
  expect(cli.code).toBe(0);
  const view = JSON.parse(cli.stdout) as StatusJson;
  expect(view.status).toBe('registered');
  expect(view.nodes.map((n) => n.id).sort()).toEqual(['c1', 'c2', 'c3']);
});

it('degrades with 30003, fails at the threshold, and register clears it — on Redis Cluster', async () => {
  await createAccount(auth.url, auth.token, { account: 'rc', password: PASSWORD, capacity: 5, allowedIps: ['10.2.0.1/32', '10.2.0.2/32'] });
  await waitFor('degraded', async () => (await statusJson()).status === 'degraded', heartbeatsWaitMs(1), 100);
  const degraded = await statusJson();
  expect(degraded.nodes.find((n) => n.id === 'c3')).toMatchObject({ status: 'degraded', reason: { code: 30003, name: 'LICENSE_IP_ERROR' } });

  await waitFor('failed', async () => (await statusJson()).status === 'failed', heartbeatsWaitMs(THRESHOLD), 100);
  const cli = await runCli(['status', '--json'], env());
  expect(cli.code).toBe(0);
  const view = JSON.parse(cli.stdout) as StatusJson;
  expect(view.status).toBe('failed');
  expect(view.nodes.find((n) => n.id === 'c3')).toMatchObject({
    status: 'failed',
    consecutiveFailures: THRESHOLD,
    reason: { code: 30003, name: 'LICENSE_IP_ERROR' },
  });
  expect(view.nodes.filter((n) => n.id !== 'c3').every((n) => n.status === 'ok')).toBe(true);

  await createAccount(auth.url, auth.token, { account: 'rc', password: PASSWORD, capacity: 5, allowedIps: ['10.2.0.0/24'] });
  await registerCredential(redis, fixture.keys, { account: 'rc', password: PASSWORD, keyDir: fixture.keyDir, defaultAlgorithm: 'rsa' });
  await waitFor('registered again', async () => (await statusJson()).status === 'registered', heartbeatsWaitMs(1), 100);
  const after = JSON.parse((await runCli(['status', '--json'], env())).stdout) as StatusJson;
  expect(after.status).toBe('registered');
  for (const s of sidecars) expect(s.output()).not.toMatch(/CROSSSLOT|MOVED|ASK |ClusterAllFailedError/);
  console.log('redis-cluster: registered -> degraded (30003) -> failed -> register -> registered');
});
