import { closeAllAuthServers, createAccount, startInProcessAuthServer } from './support/authserver';
import { waitFor } from './support/ports';
import { configFromShipped, rulesFromShipped, startPrometheus, type PromAlert, type PromRule, type TestPrometheus } from './support/prometheus';
import { disposeAllRedis, startRedis, testPrefix } from './support/redis-server';
import { registerProject, startSidecar, testKeyDir, type Sidecar } from './support/sidecar';

/**
 * The shipped Prometheus files against a real cluster and a real Prometheus: three
 * sidecars, one of which the account's allow-list refuses, so the project is marked
 * failed. Prometheus scrapes the sidecars with deploy/prometheus/prometheus.yml
 * (targets and intervals changed) and evaluates deploy/prometheus/alerts.yml (`for:`
 * shortened): RegistrationFailed fires for the project while NoLeader and TwoLeaders
 * stay inactive, and exactly one sidecar exports fdl_cloudauth_leader == 1.
 */
jest.setTimeout(90_000);

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
  const auth = await startInProcessAuthServer({ redisUrl: redis.url, logLevel: 'warn' });
  const project = 'prom-e2e';
  // node-3's IP is outside the allow-list from the start: 30003 on every attempt.
  await createAccount(auth.url, auth.token, { account: 'acct-prom', password: PASSWORD, capacity: 5, allowedIps: ['10.0.0.21/32', '10.0.0.22/32'] });
  const f = await registerProject({ project, keyPrefix: testPrefix('prom'), redisUrl: redis.url, keyDir: testKeyDir(), authUrl: auth.url, account: 'acct-prom', password: PASSWORD });
  const env = { CLOUDAUTH_FAILURE_THRESHOLD: '3', CLOUDAUTH_LEADER_LEASE: '3s', CLOUDAUTH_LEADER_RENEW: '1s', CLOUDAUTH_LOG_LEVEL: 'info' };
  sidecars.push(
    ...(await Promise.all(
      [1, 2, 3].map((n) => startSidecar(f, { nodeId: `node-${n}`, interval: '1s', env: { ...env, CLOUDAUTH_NODE_IP: `10.0.0.2${n}` } })),
    )),
  );

  const targets = sidecars.map((s) => `127.0.0.1:${s.port}`);
  const config = configFromShipped(targets, '1s');
  expect(config).toContain(`- ${targets[2]}`);
  expect(config).not.toContain('example.internal');
  const rules = rulesFromShipped('2s');
  expect(rules).not.toMatch(/for: (?!2s)/);
  prometheus = await startPrometheus({ config, rules });
  const prom = prometheus;

  // Every sidecar scraped: the cluster alerts have their inputs.
  await waitFor('Prometheus to scrape the three sidecars', async () => (await prom.query('up{job="fdl-cloudauth"} == 1')).length === 3, 30_000, 250);

  const firing = (await waitFor(
    'RegistrationFailed to fire',
    async () => (await prom.alerts()).find((a) => a.labels.alertname === 'RegistrationFailed' && a.labels.project === project && a.state === 'firing'),
    45_000,
    250,
  )) as PromAlert;
  expect(firing.labels.severity).toBe('critical');
  expect(firing.annotations.summary).toBe(`fdl-cloudauth project ${project} is marked Registration Failed`);

  // At that time: the leader rules have been evaluated with their inputs present and are quiet.
  const now = await prom.rules();
  for (const name of ['NoLeader', 'TwoLeaders']) {
    const r = rule(now, name);
    expect({ name, health: r.health, state: r.state, alerts: r.alerts ?? [] }).toEqual({ name, health: 'ok', state: 'inactive', alerts: [] });
  }
  expect(rule(now, 'RegistrationFailed').state).toBe('firing');
  expect((await prom.query('count by (project) (fdl_cloudauth_redis_up)')).map((s) => s.value[1])).toEqual(['3']);

  const leaders = await prom.query('fdl_cloudauth_leader==1');
  expect(leaders).toHaveLength(1);
  expect(leaders[0]?.metric.project).toBe(project);
  expect(targets).toContain(leaders[0]?.metric.instance);
  expect(leaders[0]?.metric.exported_instance).toMatch(/^node-[123]\b/);

  // The failing node is the one the allow-list refuses, with its reason.
  const reasons = await prom.query('fdl_cloudauth_node_failure_reason == 1');
  expect(reasons.map((s) => [s.metric.node, s.metric.code, s.metric.reason])).toEqual([['node-3', '30003', 'LICENSE_IP_ERROR']]);
});
