import { waitFor } from '../../harness/wait';
import { useThreeNodeCluster } from '../support/cluster-suite';
import { expectNeverTwoLeaders, saysLeader } from '../support/sidecar-metrics';
import { checkMetrics } from '../support/promtool';
import type { Sidecar } from '../../harness/sidecar';
import { DEFAULT_PROCESS_METRICS, METRIC_PREFIX, SPEC_METRICS } from '../support/spec-metrics';
import { heartbeatsWaitMs, LEADER_LEASE_MS, LEADER_RENEW_MS } from '../../harness/noise-budget';

/**
 * Leadership end to end: three real sidecar processes, a real Redis, the real
 * reference server. Leadership survives SIGKILL, graceful stop and SIGSTOP; cluster
 * series come from exactly one sidecar and pass promtool. (cluster-verdict.process.test.ts: the
 * failure rule on the same kind of cluster.)
 */
jest.setTimeout(240_000);

// Heartbeat, lease and renew from the noise budget (the cluster suite's): a healthy
// node stays `ok` and a leader keeps its lease while any one process stalls for 3 s.
const LEASE_MS = LEADER_LEASE_MS;
const RENEW_MS = LEADER_RENEW_MS;
const cluster = useThreeNodeCluster('cluster', { threshold: 3, subnet: '10.1.0' });
const { sidecars, scrape, leaders, statusJson } = cluster;
const start = (nodeId: string) => cluster.start(nodeId);

it('elects one leader whose cluster series are the only ones, and the scrape passes promtool', async () => {
  await waitFor(
    'the project to be registered',
    async () => (await statusJson(sidecars.get('n1') as Sidecar)).status === 'registered',
    heartbeatsWaitMs(1),
    200,
  );
  await waitFor('exactly one leader', async () => (await leaders()).length === 1, 20_000, 200);
  // The leader serves the view it last computed; one elected while the sidecars were
  // starting may still hold a view from before the first attempt (seen once under load).
  await waitFor(
    'the leader to serve a registered view',
    async () => {
      const [leader] = await leaders();
      return (
        leader !== undefined &&
        (await scrape(sidecars.get(leader) as Sidecar)).includes('fdl_cloudauth_project_status{project="cluster",status="registered"} 1')
      );
    },
    20_000,
    200,
  );
  const texts = await Promise.all([...sidecars.values()].map(scrape));
  const withCluster = texts.filter((t) => /^fdl_cloudauth_project_status\{/m.test(t));
  expect(withCluster).toHaveLength(1);
  expect(withCluster[0]).toContain('fdl_cloudauth_project_status{project="cluster",status="registered"} 1');

  const leaderText = withCluster[0] as string;
  const lint = checkMetrics(leaderText);
  expect(lint.output).toBe('');
  expect(lint.code).toBe(0);
  // Every metric of SPEC §8 is really exported by the leader (histograms by their _count).
  const exported = new Set([...leaderText.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`));
  for (const metric of SPEC_METRICS) expect(exported).toContain(`${metric.name} ${metric.type}`);
  expect([...exported].filter((e) => e.startsWith(METRIC_PREFIX)).length).toBe(SPEC_METRICS.length);
  // prom-client's default process and Node.js series, from every sidecar (issue 32).
  for (const text of texts) for (const family of DEFAULT_PROCESS_METRICS) expect(text).toContain(`# TYPE ${family}\n`);
});

/** The leader's log line of its election: `after` says whether a published release prompted it. */
function electedAfter(s: Sidecar): string[] {
  return [...s.output().matchAll(/^.*"msg":"Elected aggregator leader".*$/gm)].map((m) => /"after":"([^"]+)"/.exec(m[0])?.[1] ?? '?');
}

// How fast each happens is a figure printed here and measured by `npm run bench`
// (failover-bench); this test proves how it happens, so a loaded machine only slows it.
it('hands over on a graceful stop through the published release, and by lease expiry after SIGKILL', async () => {
  const [first] = await leaders();
  const stopped = Date.now();
  expect(await (sidecars.get(first as string) as Sidecar).stop()).toBe(0);
  await waitFor('a new leader after the graceful stop', async () => (await leaders()).length === 1, 30_000, 50);
  console.log(`graceful hand-over observed after ${Date.now() - stopped} ms`);
  const [heir] = await leaders();
  // Taken because the old leader released the lease, not because the lease ran out: the
  // release deleted a lease that was still its own (`released: true`), so whoever took
  // it next found it free. With a 1 s renew the heir may find it free by its own try a
  // moment before the release event arrives (`no-leader`) on a loaded machine; that the
  // event alone hands over is proven where tries are a minute apart (leader-election.test).
  expect((sidecars.get(first as string) as Sidecar).output()).toMatch(/"reason":"closed","released":true,"msg":"Stepped down as aggregator leader"/);
  expect(['release', 'no-leader']).toContain(electedAfter(sidecars.get(heir as string) as Sidecar).at(-1));
  await start(first as string);

  const [second] = await leaders();
  const killed = Date.now();
  await (sidecars.get(second as string) as Sidecar).kill();
  await waitFor('a new leader after SIGKILL', async () => (await leaders()).length === 1, 30_000, 50);
  console.log(`crash fail-over observed after ${Date.now() - killed} ms (lease ${LEASE_MS} + renew ${RENEW_MS})`);
  const [successor] = await leaders();
  expect(electedAfter(sidecars.get(successor as string) as Sidecar).at(-1)).toBe('no-leader');
  await start(second as string);
});

it('replaces a leader paused past its lease; resumed, it steps down and one leader remains', async () => {
  const [paused] = await leaders();
  const victim = sidecars.get(paused as string) as Sidecar;
  victim.pause();
  await waitFor(
    'another leader while paused',
    async () => {
      const now = await leaders();
      return now.length === 1 && now[0] !== paused;
    },
    30_000,
    100,
  );
  // Another leader was elected: the paused one's lease has expired in Redis, and so has its own deadline.
  victim.resume();
  await waitFor('the resumed sidecar to say it does not lead', async () => !saysLeader(await scrape(victim)), 30_000, 100);
  expect(victim.output()).toMatch(/lease-expired|lease-lost|fenced/);
  // For two renew periods after that the resumed sidecar tries to take the lease
  // back: never two leaders (a sidecar too slow to answer counts as none), then one.
  await expectNeverTwoLeaders(
    [...sidecars.values()].filter((s) => s.running),
    2 * RENEW_MS,
  );
  await waitFor('exactly one leader', async () => (await leaders()).length === 1, 30_000, 100);
});
