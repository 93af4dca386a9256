import Redis from 'ioredis';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { LEADER_ENV } from '../../harness/noise-budget';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { leaders as leadersOf } from './sidecar-metrics';
import { registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * One suite's three-node cluster: a Redis, the reference server in its own process
 * with an account that allows the three node addresses, a registered project, and
 * sidecars n1..n3 on the noise budget's heartbeat and lease. Installs its own
 * beforeAll/afterAll; the suites of test/reliability/cluster*.process.test.ts share it.
 */
export interface ClusterSuite {
  readonly password: string;
  readonly ips: Readonly<Record<string, string>>;
  /** The running (and stopped) sidecars by node id. */
  readonly sidecars: Map<string, Sidecar>;
  redis(): Redis;
  auth(): ChildAuthServer;
  fixture(): ProjectFixture;
  /** Starts (or starts again) one node's sidecar. */
  start(nodeId: string): Promise<Sidecar>;
  scrape(s: Sidecar): Promise<string>;
  /** Node ids of the running sidecars that say they lead. */
  leaders(): Promise<string[]>;
  statusJson(s: Sidecar): Promise<StatusJson>;
}

export function useThreeNodeCluster(project: string, options: { threshold: number; subnet: string }): ClusterSuite {
  const password = `${project}-pw-1`;
  const ips = { n1: `${options.subnet}.1`, n2: `${options.subnet}.2`, n3: `${options.subnet}.3` };
  const sidecars = new Map<string, Sidecar>();
  let redis: Redis | undefined;
  let auth: ChildAuthServer | undefined;
  let fixture: ProjectFixture | undefined;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the cluster's ${what} is not started yet (beforeAll)`);
    return value;
  };
  const suite: ClusterSuite = {
    password,
    ips,
    sidecars,
    redis: () => need(redis, 'Redis client'),
    auth: () => need(auth, 'reference server'),
    fixture: () => need(fixture, 'project'),
    start: async (nodeId) => {
      const s = await startSidecar(need(fixture, 'project'), {
        nodeId,
        env: { CLOUDAUTH_NODE_IP: ips[nodeId as keyof typeof ips], ...LEADER_ENV, CLOUDAUTH_FAILURE_THRESHOLD: String(options.threshold) },
      });
      sidecars.set(nodeId, s);
      return s;
    },
    scrape: async (s) => (await s.get('/metrics')).text,
    leaders: () => leadersOf([...sidecars.values()].filter((s) => s.running)),
    statusJson: async (s) => JSON.parse((await s.get('/status')).text) as StatusJson,
  };
  beforeAll(async () => {
    const server = await startRedis();
    redis = new Redis(server.url);
    auth = await spawnAuthServer({ redisUrl: server.url });
    await createAccount(auth.url, auth.token, { account: project, password, capacity: 5, allowedIps: [`${options.subnet}.0/24`] });
    fixture = await registerProject({
      project,
      keyPrefix: testPrefix(project),
      redisUrl: server.url,
      keyDir: testKeyDir(),
      authUrl: auth.url,
      account: project,
      password,
    });
    // At once: each waits for its own /healthz (a failed start leaves the others in `sidecars` for afterAll).
    await Promise.all(['n1', 'n2', 'n3'].map((id) => suite.start(id)));
  });
  afterAll(async () => {
    await Promise.all([...sidecars.values()].map((s) => s.stop()));
    redis?.disconnect();
    await closeAllAuthServers();
    await disposeAllRedis();
  });
  return suite;
}
