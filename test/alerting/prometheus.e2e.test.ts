import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { configFromShipped, rulesFromShipped, startPrometheus, type PromAlert, type PromRule, type TestPrometheus } from '../support/prometheus';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { heartbeatsWaitMs, LEADER_ENV, LEADER_LEASE_MS, LEADER_RENEW_MS, STALL_MS } from '../../harness/noise-budget';
import { registerProject, startSidecar, testKeyDir, type Sidecar } from '../../harness/sidecar';

/**
 * The shipped Prometheus files against a real cluster and a real Prometheus: three
 * sidecars, one of which the account's allow-list refuses, so the project is marked
 * failed. Prometheus scrapes the sidecars with deploy/prometheus/prometheus.yml
 * (targets and intervals changed) and evaluates deploy/prometheus/alerts.yml (`for:`
 * shortened): RegistrationFailed fires for the project while NoLeader and TwoLeaders
 * stay inactive, and exactly one sidecar exports fdl_cloudauth_leader == 1.
 *
 * Nothing here waits for a fixed time: each assertion waits for the state it is about
 * (every sidecar scraped, every sidecar's leader series seen, then a full `for:`
 * window of evaluations), so a loaded machine makes the test slower, not red.
 */
jest.setTimeout(180_000);

const PASSWORD = 'prometheus e2e password';
const sidecars: Sidecar[] = [];
let prometheus: TestPrometheus | undefined;

afterAll(async () => {
  await prometheus?.stop();
  await Promise.all(sidecars.map((s) => s.stop()));
  await closeAllAuthServers();
  await disposeAllRedis();
});

function rule(rules: PromRule[], name: string): PromRule {
  const found = rules.find((r) => r.name === name);
  if (!found) throw new Error(`no alerting rule ${name} in ${rules.map((r) => r.name).join(', ')}`);
  return found;
}

it('fires RegistrationFailed for a failed project, not NoLeader nor TwoLeaders, with exactly one leader series', async () => {
  const redis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: redis.url });
  const project = 'prom-e2e';
  // node-3's IP is outside the allow-list from the start: 30003 on every attempt.
  await createAccount(auth.url, auth.token, { account: 'acct-prom', password: PASSWORD, capacity: 5, allowedIps: ['10.0.0.21/32', '10.0.0.22/32'] });
  const f = await registerProject({
    project,
    keyPrefix: testPrefix('prom'),
    redisUrl: redis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'acct-prom',
    password: PASSWORD,
  });
  // The noise budget's heartbeat and lease (a healthy node stays ok, a leader keeps its
  // lease, while any one process stalls 3 s); a threshold of 3 keeps the story short.
  const env = { CLOUDAUTH_FAILURE_THRESHOLD: '3', ...LEADER_ENV, CLOUDAUTH_LOG_LEVEL: 'info' };
  sidecars.push(...(await Promise.all([1, 2, 3].map((n) => startSidecar(f, { nodeId: `node-${n}`, env: { ...env, CLOUDAUTH_NODE_IP: `10.0.0.2${n}` } })))));

  const targets = sidecars.map((s) => `127.0.0.1:${s.port}`);
  const config = configFromShipped(targets, '1s');
  expect(config).toContain(`- ${targets[2]}`);
  expect(config).not.toContain('example.internal');
  // The leader alerts keep their `for:` longer than lease + renew + two scrapes + a
  // stall of the leader (its scrapes fail meanwhile), as the shipped 1 minute is
  // against the default 15 s lease (see rulesFromShipped).
  const leaderFor = Math.ceil((LEADER_LEASE_MS + LEADER_RENEW_MS + 2000 + STALL_MS) / 1000);
  const rules = rulesFromShipped('2s', { NoLeader: `${leaderFor}s`, TwoLeaders: `${leaderFor}s` });
  expect(rules).not.toMatch(new RegExp(`for: (?!2s|${leaderFor}s)`));
  prometheus = await startPrometheus({ config, rules });
  const prom = prometheus;
  const count = async (promql: string): Promise<number> => Number((await prom.query(promql))[0]?.value[1] ?? 0);

  // Every sidecar scraped, and each has been a candidate long enough to say whether it
  // leads: the leader alerts have all their inputs, with exactly one leader among them.
  await waitFor('Prometheus to scrape the three sidecars', async () => (await count('count(up{job="fdl-cloudauth"} == 1)')) === 3, 30_000, 250);
  await waitFor(
    'three leader series, one of them 1',
    async () => (await count('count(fdl_cloudauth_leader)')) === 3 && (await count('count(fdl_cloudauth_leader == 1)')) === 1,
    30_000,
    250,
  );
  const settledAt = Date.now() / 1000;

  const firing = (await waitFor(
    'RegistrationFailed to fire',
    async () => (await prom.alerts()).find((a) => a.labels.alertname === 'RegistrationFailed' && a.labels.project === project && a.state === 'firing'),
    heartbeatsWaitMs(3),
    250,
  )) as PromAlert;
  expect(firing.labels.severity).toBe('critical');
  expect(firing.annotations.summary).toBe(`fdl-cloudauth project ${project} is marked Registration Failed`);

  // A full `for:` window of the leader alerts evaluated with their inputs present, and
  // then both quiet at the same evaluation.
  const quiet = (await waitFor(
    'NoLeader and TwoLeaders evaluated for a full window after the cluster settled, and inactive',
    async () => {
      const now = await prom.rules();
      const leaderRules = ['NoLeader', 'TwoLeaders'].map((name) => rule(now, name));
      const evaluatedAfter = leaderRules.every((r) => r.lastEvaluation !== undefined && Date.parse(r.lastEvaluation) / 1000 >= settledAt + leaderFor);
      return evaluatedAfter && leaderRules.every((r) => r.state === 'inactive') ? now : undefined;
    },
    (leaderFor + 30) * 1000,
    250,
  )) as PromRule[];
  for (const name of ['NoLeader', 'TwoLeaders']) {
    const r = rule(quiet, name);
    expect({ name, health: r.health, state: r.state, alerts: r.alerts ?? [] }).toEqual({ name, health: 'ok', state: 'inactive', alerts: [] });
  }
  expect(rule(quiet, 'RegistrationFailed').state).toBe('firing');
  // Never fired at any evaluation since Prometheus started (ALERTS keeps each one).
  expect(await prom.query('max_over_time(ALERTS{alertname=~"NoLeader|TwoLeaders",alertstate="firing"}[10m])')).toEqual([]);
  expect((await prom.query('count by (project) (fdl_cloudauth_redis_up)')).map((s) => s.value[1])).toEqual(['3']);

  const leaders = await prom.query('fdl_cloudauth_leader==1');
  expect(leaders).toHaveLength(1);
  expect(leaders[0]?.metric.project).toBe(project);
  expect(targets).toContain(leaders[0]?.metric.instance);
  expect(leaders[0]?.metric.holder).toMatch(/^node-[123]\b/);
  expect(leaders[0]?.metric.exported_instance).toBeUndefined();

  // The failing node is the one the allow-list refuses, with its reason.
  const reasons = await prom.query('fdl_cloudauth_node_failure_reason == 1');
  expect(reasons.map((s) => [s.metric.node, s.metric.code, s.metric.reason])).toEqual([['node-3', '30003', 'LICENSE_IP_ERROR']]);
});
