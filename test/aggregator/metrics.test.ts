import Redis from 'ioredis';
import { Registry } from 'prom-client';
import { OffsetClock } from '../../shared/clock';
import { ProjectKeys } from '../../shared/redis/keys';
import { ClusterMetrics } from '../../daemon/aggregator/cluster-metrics';
import { startRedis, testPrefix } from '../../harness/redis-server';
import { waitFor } from '../../harness/wait';
import { checkMetrics } from '../support/promtool';
import { DEFAULT_POLICY, realTime, silentLog, startCandidate, type Candidate } from '../../harness/sidecar-parts';
import { useRedisWithCandidates } from '../support/candidate-suite';
import { reason, writeCredential, writeNodeRecord } from '../../harness/node-records';
import { CorruptRecordLog } from '../../daemon/view/corrupt-record-log';
import { readFailures } from '../../daemon/view/failure-history';
import { ProjectViewReader } from '../../daemon/view/project-view';

const h = useRedisWithCandidates();

async function redisNow(client: Redis = h.admin): Promise<number> {
  const [s, us] = await client.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/**
 * A candidate with its metrics, scraped as the sidecar's /metrics is: the registry, then
 * the cluster series. The metrics run on the aggregator's clock (which stamps the view's
 * read) plus an offset the test moves: the leader gauge's start-up guard runs on it.
 */
async function sidecar(url: string, k: ProjectKeys, nodeId: string): Promise<{ c: Candidate; metricsClock: OffsetClock; scrape(): Promise<string> }> {
  const c = await startCandidate({ url, keys: k, nodeId, withAggregator: true, ...realTime });
  h.open.push(c);
  const registry = new Registry();
  const metricsClock = new OffsetClock(realTime.clock);
  const cluster = new ClusterMetrics(registry, c.aggregator as NonNullable<Candidate['aggregator']>, c.election, { clock: metricsClock });
  return { c, metricsClock, scrape: async () => (await registry.metrics()) + cluster.text() };
}

const CLUSTER_METRICS = [
  'project_status',
  'node_status',
  'node_consecutive_failures',
  'node_failure_reason',
  'node_last_attempt_timestamp_seconds',
  'node_last_success_timestamp_seconds',
  'lockout_seconds',
  'lockout_window_seconds',
  'license_expiry_timestamp_seconds',
  'license_slots',
  'corrupt_records_total',
  'view_age_seconds',
];

function series(text: string, metric: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`fdl_cloudauth_${metric}{`) || l.startsWith(`fdl_cloudauth_${metric} `));
}

describe('cluster metrics', () => {
  it('come from the leader only; a removed node disappears; leader and transitions come from everyone', async () => {
    const k = new ProjectKeys(testPrefix('metrics'), 'p1');
    await writeCredential(h.admin, k);
    const now = await redisNow();
    const expiresAt = Date.UTC(2027, 0, 1);
    await writeNodeRecord(h.admin, k, { id: 'n1', lastAttemptAt: now, lastSuccessAt: now, license: { expiresAt, capacity: 5, bound: 2 } });
    await writeNodeRecord(h.admin, k, {
      id: 'n2',
      consecutiveFailures: 2,
      lastAttemptAt: now,
      lastSuccessAt: now - 5 * 7_200_000,
      reason: reason(null, 'CONNECTION_FAILED', now - 7_200_000),
      latestReason: reason(30003, 'LICENSE_IP_ERROR', now),
    });
    const a = await sidecar(h.server.url, k, 'n1');
    const b = await sidecar(h.server.url, k, 'n2');
    await waitFor('a leader', () => a.c.election.isLeader || b.c.election.isLeader);
    const [leader, follower] = a.c.election.isLeader ? [a, b] : [b, a];
    await waitFor("the leader's first view", () => leader.c.aggregator?.latestView);

    const text = await leader.scrape();
    expect(checkMetrics(text)).toEqual(expect.objectContaining({ code: 0, output: '' }));
    for (const metric of CLUSTER_METRICS) expect(series(text, metric).length).toBeGreaterThan(0);
    expect(series(text, 'project_status')).toEqual([
      'fdl_cloudauth_project_status{project="p1",status="registered"} 0',
      'fdl_cloudauth_project_status{project="p1",status="degraded"} 1',
      'fdl_cloudauth_project_status{project="p1",status="failed"} 0',
      'fdl_cloudauth_project_status{project="p1",status="unregistered"} 0',
    ]);
    expect(series(text, 'node_status').filter((l) => l.endsWith(' 1'))).toEqual([
      'fdl_cloudauth_node_status{project="p1",node="n1",status="ok"} 1',
      'fdl_cloudauth_node_status{project="p1",node="n2",status="degraded"} 1',
    ]);
    expect(series(text, 'node_status')).toHaveLength(10);
    // The first reason of the streak, with an empty code for CONNECTION_FAILED.
    expect(series(text, 'node_failure_reason')).toEqual(['fdl_cloudauth_node_failure_reason{project="p1",node="n2",code="",reason="CONNECTION_FAILED"} 1']);
    expect(series(text, 'node_consecutive_failures')).toContain('fdl_cloudauth_node_consecutive_failures{project="p1",node="n2"} 2');
    expect(series(text, 'license_slots')).toEqual([
      // The account (an identifier, not a secret) lets Prometheus add one account's
      // projects together across Redis instances: max by (account).
      'fdl_cloudauth_license_slots{project="p1",account="acme",kind="capacity"} 5',
      'fdl_cloudauth_license_slots{project="p1",account="acme",kind="bound"} 2',
    ]);
    expect(series(text, 'license_expiry_timestamp_seconds')).toEqual([`fdl_cloudauth_license_expiry_timestamp_seconds{project="p1"} ${expiresAt / 1000}`]);
    const lockout = Number(series(text, 'lockout_seconds')[0]?.split(' ')[1]);
    // n2: 10 attempts left from its last attempt (just now): about 20 h.
    expect(lockout).toBeGreaterThan(19.9 * 3600);
    expect(lockout).toBeLessThanOrEqual(20 * 3600);
    // The whole window: threshold 12 × 2 h.
    expect(series(text, 'lockout_window_seconds')).toEqual(['fdl_cloudauth_lockout_window_seconds{project="p1"} 86400']);
    expect(series(text, 'leader')).toEqual([`fdl_cloudauth_leader{project="p1",holder="${leader.c.election.instance}"} 1`]);
    // The project's epoch: one leadership taken so far.
    expect(series(text, 'leader_transitions_total')).toEqual([`fdl_cloudauth_leader_transitions_total{project="p1"} ${leader.c.election.epoch}`]);

    // Within its first lease a follower cannot know whether someone else leads, so it
    // says nothing (NoLeader must not count a sidecar that is still starting)...
    const early = await follower.scrape();
    for (const metric of CLUSTER_METRICS) expect(series(early, metric)).toEqual([]);
    expect(series(early, 'leader')).toEqual([]);
    // ...and 0 once it has been a candidate for a whole lease.
    follower.metricsClock.offsetMs += follower.c.election.leaseMs;
    const other = await follower.scrape();
    for (const metric of CLUSTER_METRICS) expect(series(other, metric)).toEqual([]);
    expect(series(other, 'leader')).toEqual([`fdl_cloudauth_leader{project="p1",holder="${follower.c.election.instance}"} 0`]);
    // Cluster-level: the project's count comes from the leader only.
    expect(series(other, 'leader_transitions_total')).toEqual([]);

    await h.admin.zrem(k.nodes, 'n2');
    await h.admin.del(k.node('n2'));
    // Served from the leader's view: the removal shows once the view has it (event or sweep).
    await waitFor('the view without n2', () => leader.c.aggregator?.latestView?.nodes.length === 1);
    const after = await leader.scrape();
    expect(after).not.toContain('node="n2"');
    expect(series(after, 'node_status')).toHaveLength(5);
    expect(series(after, 'project_status').filter((l) => l.endsWith(' 1'))).toEqual(['fdl_cloudauth_project_status{project="p1",status="registered"} 1']);
  });

  it('corrupt_records_total is the project count: records found by a non-leader and by the CLI are exported by the leader', async () => {
    const k = new ProjectKeys(testPrefix('metrics'), 'p1');
    await writeCredential(h.admin, k);
    const now = await redisNow();
    await writeNodeRecord(h.admin, k, { id: 'n1', lastAttemptAt: now, lastSuccessAt: now });
    const a = await sidecar(h.server.url, k, 'n1');
    await waitFor('a to lead with a view', () => a.c.election.isLeader && a.c.aggregator?.latestView);
    expect(series(await a.scrape(), 'corrupt_records_total')).toEqual(['fdl_cloudauth_corrupt_records_total{project="p1"} 0']);

    // Another sidecar (not the leader) serving /status finds a broken node record...
    await h.admin.zadd(k.nodes, 5, 'bad');
    await h.admin.hset(k.node('bad'), { consecutiveFailures: 'x' });
    const nonLeader = new ProjectViewReader({ redis: h.admin, keys: k, policy: DEFAULT_POLICY, log: silentLog });
    await nonLeader.read();
    // ...and `fdl-cloudauth failures` finds a broken history entry.
    await h.admin.lpush(k.history('n1'), 'not json');
    await readFailures(h.admin, k, { limit: 5 }, new CorruptRecordLog(silentLog));
    await a.c.aggregator?.refresh();
    expect(series(await a.scrape(), 'corrupt_records_total')).toEqual(['fdl_cloudauth_corrupt_records_total{project="p1"} 2']);
  });

  it("serves the leader's view without reading Redis: while Redis is down the view ages, and a leader that steps down exports none", async () => {
    const own = await startRedis();
    const ownAdmin = new Redis({ host: own.host, port: own.port, maxRetriesPerRequest: 1 });
    try {
      const k = new ProjectKeys(testPrefix('metrics'), 'p1');
      await writeCredential(ownAdmin, k);
      const now = await redisNow(ownAdmin);
      await writeNodeRecord(ownAdmin, k, { id: 'n1', lastAttemptAt: now, lastSuccessAt: now });
      const a = await sidecar(own.url, k, 'n1');
      await waitFor('a to lead with a view', () => a.c.election.isLeader && a.c.aggregator?.latestView);
      const fresh = await a.scrape();
      expect(series(fresh, 'project_status')).toHaveLength(4);
      const ageOf = (text: string) => Number(series(text, 'view_age_seconds')[0]?.split(' ')[1]);
      expect(ageOf(fresh)).toBeGreaterThanOrEqual(0);
      await own.kill();
      // Still within its lease: the scrape answers from the last view, which only ages.
      const viewBefore = a.c.aggregator?.latestView;
      await waitFor('a failed read of the dead Redis', async () => (await a.c.aggregator?.refresh()) === null && a.c.election.isLeader);
      expect(a.c.aggregator?.latestView).toBe(viewBefore);
      const during = await a.scrape();
      expect(series(during, 'project_status')).toEqual(series(fresh, 'project_status'));
      expect(ageOf(during)).toBeGreaterThan(ageOf(fresh));
      // Its lease lapses: it steps down, and the cluster series go with it.
      await waitFor('a to step down', () => !a.c.election.isLeader, 10_000, 20);
      a.metricsClock.offsetMs += a.c.election.leaseMs;
      const text = await a.scrape();
      for (const metric of CLUSTER_METRICS) expect(series(text, metric)).toEqual([]);
      expect(series(text, 'leader')).toEqual([`fdl_cloudauth_leader{project="p1",holder="${a.c.election.instance}"} 0`]);
    } finally {
      ownAdmin.disconnect();
    }
  });
});
