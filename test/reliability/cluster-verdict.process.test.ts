import { createAccount } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { waitFor } from '../../harness/wait';
import { useThreeNodeCluster } from '../support/cluster-suite';
import { saysLeader } from '../support/sidecar-metrics';
import type { Sidecar } from '../../harness/sidecar';
import { heartbeatsWaitMs, HEALTHY_INTERVAL_MS } from '../../harness/noise-budget';
import { registerCredential } from '../../daemon/credentials/register-credential';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * The failure rule end to end: three real sidecar processes, a real Redis, the real
 * reference server. A node taken out of the allow-list degrades then fails the
 * project, every view (status, failures, /status, /metrics) agrees, the verdict is
 * sticky until register clears it; a stopped sidecar's node goes stale without a
 * failure. (cluster.process.test.ts: leadership on the same kind of cluster.)
 */
jest.setTimeout(240_000);

// Heartbeat, lease and renew from the noise budget (the cluster suite's): a healthy
// node stays `ok` and a leader keeps its lease while any one process stalls for 3 s.
const THRESHOLD = 3;
const cluster = useThreeNodeCluster('verdict', { threshold: THRESHOLD, subnet: '10.1.1' });
const { sidecars, scrape, statusJson } = cluster;

it('degrades then fails on one node out of the allow-list; status, failures, /status and /metrics agree; register clears it', async () => {
  await waitFor(
    'the project to be registered',
    async () => (await statusJson(sidecars.get('n1') as Sidecar)).status === 'registered',
    heartbeatsWaitMs(1),
    200,
  );
  // n3's address (10.1.1.3) leaves the allow-list.
  await createAccount(cluster.auth().url, cluster.auth().token, {
    account: 'verdict',
    password: cluster.password,
    capacity: 5,
    allowedIps: ['10.1.1.0/31', '10.1.1.2/32'],
  });
  await waitFor('degraded', async () => (await statusJson(sidecars.get('n1') as Sidecar)).status === 'degraded', heartbeatsWaitMs(1), 100);
  const degraded = await statusJson(sidecars.get('n2') as Sidecar);
  const n3 = degraded.nodes.find((n) => n.id === 'n3');
  expect(n3?.status).toBe('degraded');
  expect(n3?.reason).toMatchObject({ code: 30003, name: 'LICENSE_IP_ERROR' });

  await waitFor('failed', async () => (await statusJson(sidecars.get('n1') as Sidecar)).status === 'failed', heartbeatsWaitMs(THRESHOLD), 100);
  // The leader's metrics follow its view by a change event: wait for them, then compare every view.
  const leaderMetrics = async () => (await Promise.all([...sidecars.values()].map(scrape))).find(saysLeader) ?? '';
  await waitFor(
    'the leader to export the failed project',
    async () => (await leaderMetrics()).includes('fdl_cloudauth_project_status{project="verdict",status="failed"} 1'),
    30_000,
    100,
  );
  const fixture = cluster.fixture();
  const env = {
    CLOUDAUTH_PROJECT: 'verdict',
    CLOUDAUTH_REDIS_URL: fixture.redisUrl,
    CLOUDAUTH_REDIS_KEY_PREFIX: fixture.keyPrefix,
    CLOUDAUTH_FAILURE_THRESHOLD: String(THRESHOLD),
    CLOUDAUTH_HEARTBEAT_INTERVAL: `${HEALTHY_INTERVAL_MS}ms`,
  };
  const cliStatus = JSON.parse((await runCli(['status', '--json'], env)).stdout) as StatusJson;
  const httpStatus = await statusJson(sidecars.get('n1') as Sidecar);
  for (const view of [cliStatus, httpStatus]) {
    expect(view.status).toBe('failed');
    expect(view.lockoutSeconds).toBe(0);
    const node = view.nodes.find((n) => n.id === 'n3');
    // At least the threshold: an attempt already under way when the leader wrote the
    // verdict is still recorded (the verdict stops the next one, see below).
    expect(node).toMatchObject({ status: 'failed', reason: { code: 30003, name: 'LICENSE_IP_ERROR' } });
    expect(node?.consecutiveFailures).toBeGreaterThanOrEqual(THRESHOLD);
    expect(view.nodes.filter((n) => n.id !== 'n3').every((n) => n.status === 'ok')).toBe(true);
  }
  const failures = JSON.parse((await runCli(['failures', '--json', '--node', 'n3'], env)).stdout) as Array<{ node: string; code: number; name: string }>;
  expect(failures.length).toBeGreaterThanOrEqual(THRESHOLD);
  expect(failures.every((f) => f.node === 'n3' && f.code === 30003 && f.name === 'LICENSE_IP_ERROR')).toBe(true);
  const metricsLeader = await leaderMetrics();
  expect(metricsLeader).toContain('fdl_cloudauth_project_status{project="verdict",status="failed"} 1');
  expect(metricsLeader).toContain('fdl_cloudauth_node_status{project="verdict",node="n3",status="failed"} 1');
  expect(metricsLeader).toContain('fdl_cloudauth_node_failure_reason{project="verdict",node="n3",code="30003",reason="LICENSE_IP_ERROR"} 1');
  expect(metricsLeader).toContain('fdl_cloudauth_lockout_seconds{project="verdict"} 0');

  // Failed is sticky: n3 stops authenticating, even once the account is fixed...
  const n3Sidecar = sidecars.get('n3') as Sidecar;
  const skipped = () => n3Sidecar.output().match(/not authenticating until it is registered again/g)?.length ?? 0;
  const skippedBefore = skipped();
  await createAccount(cluster.auth().url, cluster.auth().token, { account: 'verdict', password: cluster.password, capacity: 5, allowedIps: ['10.1.1.0/24'] });
  // Two heartbeat slots of n3 with its address allowed again, each skipped, not authenticated.
  await waitFor('n3 to skip two slots', () => skipped() >= skippedBefore + 2, heartbeatsWaitMs(2), 100);
  expect((await statusJson(sidecars.get('n1') as Sidecar)).status).toBe('failed');
  // ...until the project is registered again.
  await registerCredential(cluster.redis(), fixture.keys, { account: 'verdict', password: cluster.password, keyDir: fixture.keyDir, defaultAlgorithm: 'rsa' });
  await waitFor('registered again', async () => (await statusJson(sidecars.get('n1') as Sidecar)).status === 'registered', heartbeatsWaitMs(1), 100);
});

it("turns a stopped sidecar's node stale without raising a failure", async () => {
  expect(await (sidecars.get('n2') as Sidecar).stop()).toBe(0);
  await waitFor(
    'n2 stale',
    async () => (await statusJson(sidecars.get('n1') as Sidecar)).nodes.find((n) => n.id === 'n2')?.status === 'stale',
    heartbeatsWaitMs(2),
    200,
  );
  const view = await statusJson(sidecars.get('n1') as Sidecar);
  expect(view.status).toBe('registered');
  expect(view.nodes.find((n) => n.id === 'n2')?.consecutiveFailures).toBe(0);
});
