import Redis from 'ioredis';
import { heartbeatsWaitMs, LEADER_ENV } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { registerProject, startSidecars, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * The stale rule (R6) with real sidecar processes: under policy `all`, one node driven
 * to the threshold while the two other sidecars are stopped (stale) leaves the project
 * `degraded`, never `failed` — a maintenance window on two sidecars must not lock a
 * cluster out. The stale nodes keep their recorded streak, in /status and /metrics.
 */
jest.setTimeout(180_000);

// The noise budget's heartbeat, request timeout and lease: n1 is never stale by a
// stall, and n1's streak read right after it reached the threshold is still the
// threshold while any one process stalls 3 s (the next attempt is a heartbeat away).
const THRESHOLD = 3;
const PASSWORD = 'stale-rule-pw';
let redis: Redis;
let auth: ChildAuthServer;
let fixture: ProjectFixture;
const sidecars = new Map<string, Sidecar>();
const IPS: Record<string, string> = { n1: '10.2.0.1', n2: '10.2.0.2', n3: '10.2.0.3' };

async function statusOf(s: Sidecar): Promise<StatusJson> {
  return JSON.parse((await s.get('/status')).text) as StatusJson;
}

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
  auth = await spawnAuthServer({ redisUrl: server.url });
  await createAccount(auth.url, auth.token, { account: 'stale', password: PASSWORD, capacity: 5, allowedIps: ['10.2.0.0/24'] });
  fixture = await registerProject({
    project: 'stale',
    keyPrefix: testPrefix('stale'),
    redisUrl: server.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'stale',
    password: PASSWORD,
  });
  const started = await startSidecars(
    fixture,
    ['n1', 'n2', 'n3'].map((nodeId) => ({
      nodeId,
      env: { CLOUDAUTH_NODE_IP: IPS[nodeId] as string, CLOUDAUTH_FAILURE_POLICY: 'all', CLOUDAUTH_FAILURE_THRESHOLD: String(THRESHOLD), ...LEADER_ENV },
    })),
  );
  for (const s of started) sidecars.set(s.nodeId, s);
});

afterAll(async () => {
  await Promise.all([...sidecars.values()].map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

it('policy all: one node at the threshold and two stopped sidecars is degraded, not failed', async () => {
  const n1 = sidecars.get('n1') as Sidecar;
  await waitFor('the project to be registered', async () => (await statusOf(n1)).status === 'registered', 30_000, 200);

  // Maintenance window: n2 and n3 stop, and go stale.
  expect(await (sidecars.get('n2') as Sidecar).stop()).toBe(0);
  expect(await (sidecars.get('n3') as Sidecar).stop()).toBe(0);
  // A check that is not there yet throws what it saw, so a timeout says it.
  await waitFor(
    'n2 and n3 stale',
    async () => {
      const view = await statusOf(n1);
      if (view.nodes.filter((n) => n.id !== 'n1' && n.status === 'stale').length === 2) return true;
      throw new Error(`leader ${view.leader?.instance ?? 'none'}: ${view.nodes.map((n) => `${n.id} ${n.status} last ${n.lastAttemptAt}`).join(', ')}`);
    },
    heartbeatsWaitMs(2),
    100,
  );

  // n1 leaves the allow-list and fails every attempt up to the threshold.
  await createAccount(auth.url, auth.token, { account: 'stale', password: PASSWORD, capacity: 5, allowedIps: ['10.2.0.2/32', '10.2.0.3/32'] });
  await waitFor(
    'n1 at the threshold',
    async () => (await statusOf(n1)).nodes.find((n) => n.id === 'n1')?.status === 'failed',
    heartbeatsWaitMs(THRESHOLD),
    100,
  );
  // The leader (n1, the only sidecar left) has aggregated that view once its metrics show it.
  const metrics = await waitFor(
    "the leader's metrics with n1 failed",
    async () => {
      const text = (await n1.get('/metrics')).text;
      return text.includes('fdl_cloudauth_node_status{project="stale",node="n1",status="failed"} 1') ? text : null;
    },
    20_000,
    100,
  );
  expect(metrics).toContain('fdl_cloudauth_project_status{project="stale",status="degraded"} 1');
  expect(metrics).toContain('fdl_cloudauth_project_status{project="stale",status="failed"} 0');
  for (const node of ['n2', 'n3']) {
    expect(metrics).toContain(`fdl_cloudauth_node_status{project="stale",node="${node}",status="stale"} 1`);
    expect(metrics).toContain(`fdl_cloudauth_node_consecutive_failures{project="stale",node="${node}"} 0`);
  }

  const status = await statusOf(n1);
  expect(status.status).toBe('degraded');
  expect(status.nodes.map((n) => [n.id, n.status, n.consecutiveFailures])).toEqual([
    ['n1', 'failed', THRESHOLD],
    ['n2', 'stale', 0],
    ['n3', 'stale', 0],
  ]);
  // What the leader wrote: the sticky `failed` (which would stop every node) was never written.
  expect(await redis.hget(fixture.keys.status, 'status')).toBe('degraded');
  // n1 keeps authenticating (a failed project would have stopped it): its streak grows.
  const beyond = await waitFor(
    'n1 past the threshold',
    async () => (await statusOf(n1)).nodes.find((n) => n.id === 'n1' && n.consecutiveFailures > THRESHOLD),
    heartbeatsWaitMs(1),
    100,
  );
  expect(beyond?.status).toBe('failed');
  expect(await redis.hget(fixture.keys.status, 'status')).toBe('degraded');
});
