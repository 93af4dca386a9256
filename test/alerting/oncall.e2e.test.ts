import { BUSY_INTERVAL_MS, LEADER_ENV } from '../../harness/noise-budget';
import { summarize, type Notification } from '../support/alertmanager';
import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { startOnCallChain, type OnCallChain } from '../support/oncall-chain';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { registerProject, startSidecar, testKeyDir, type Sidecar } from '../../harness/sidecar';

/**
 * The on-call chain end to end, every part real and on loopback: three sidecars and
 * the reference server, Prometheus with the shipped prometheus.yml and alerts.yml
 * (targets, intervals and `for:` shortened), Alertmanager with the shipped
 * alertmanager.yml (receivers pointed at a webhook receiver of this test, group
 * timers shortened). A node starts failing: the team hears RegistrationDegraded; it
 * reaches the threshold: on-call is paged with RegistrationFailed, and the resolution
 * of Degraded that the failure causes is inhibited; `register`: RegistrationFailed is
 * resolved. The times from the node's first failed attempt to each notification are
 * printed.
 */
jest.setTimeout(300_000);

const PASSWORD = 'on-call e2e password';
const PROJECT = 'oncall-e2e';
const ACCOUNT = 'acct-oncall';
const ALL_IPS = ['10.0.0.41/32', '10.0.0.42/32', '10.0.0.43/32'];
const THRESHOLD = 4;

const sidecars: Sidecar[] = [];
let chain: OnCallChain | undefined;

afterAll(async () => {
  await chain?.stop();
  await Promise.all(sidecars.map((s) => s.stop()));
  await closeAllAuthServers();
  await disposeAllRedis();
});

const says = (n: Notification, alertname: string, status: 'firing' | 'resolved') =>
  n.groupLabels.project === PROJECT && n.alerts.some((a) => a.labels.alertname === alertname && a.status === status);

interface StatusNode {
  id: string;
  status: string;
  reason: { at: string; name: string } | null;
}

it('tells the team Degraded, pages Failed with Degraded inhibited, and resolves after register', async () => {
  const redis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: redis.url });
  await createAccount(auth.url, auth.token, { account: ACCOUNT, password: PASSWORD, capacity: 5, allowedIps: ALL_IPS });
  const fixture = {
    project: PROJECT,
    keyPrefix: testPrefix('oncall'),
    redisUrl: redis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: ACCOUNT,
    password: PASSWORD,
  };
  const f = await registerProject(fixture);
  // The budget's shortest heartbeat: a node made stale for a moment by a stall raises
  // only NodeStale, which nothing here asserts; every attempt still holds a stalled
  // server's answer, so the streaks the alerts follow are the allow-list's alone.
  const env = { CLOUDAUTH_FAILURE_THRESHOLD: String(THRESHOLD), ...LEADER_ENV, CLOUDAUTH_LOG_LEVEL: 'info' };
  sidecars.push(
    ...(await Promise.all(
      [1, 2, 3].map((n) => startSidecar(f, { nodeId: `node-${n}`, interval: `${BUSY_INTERVAL_MS}ms`, env: { ...env, CLOUDAUTH_NODE_IP: `10.0.0.4${n}` } })),
    )),
  );

  chain = await startOnCallChain(sidecars.map((s) => s.port));
  const { prometheus: prom, alertmanager: am, receiver: hook } = chain;

  // Healthy first: every node authenticated, Prometheus sees a registered project.
  await waitFor(
    'Prometheus to see the project registered',
    async () => (await prom.query(`fdl_cloudauth_project_status{project="${PROJECT}",status="registered"} == 1`)).length === 1,
    60_000,
    250,
  );

  // node-3 leaves the allow-list: 30003 on every attempt from now.
  await createAccount(auth.url, auth.token, { account: ACCOUNT, password: PASSWORD, capacity: 5, allowedIps: ALL_IPS.slice(0, 2) });
  const node3 = await waitFor(
    'node-3 to record its first failure',
    async () => {
      const status = JSON.parse((await sidecars[0]!.get('/status')).text) as { nodes: StatusNode[] };
      return status.nodes.find((n) => n.id === 'node-3' && n.reason !== null);
    },
    30_000,
    100,
  );
  expect(node3?.reason?.name).toBe('LICENSE_IP_ERROR');
  const firstFailedAt = Date.parse(node3?.reason?.at ?? '');

  const degraded = await hook.next(
    'RegistrationDegraded at the team receiver',
    (n) => n.path.endsWith('/warning') && says(n, 'RegistrationDegraded', 'firing'),
    90_000,
  );
  const failed = await hook.next('RegistrationFailed at the pager', (n) => n.path.endsWith('/critical') && says(n, 'RegistrationFailed', 'firing'), 90_000);
  const failedAlert = failed.alerts.find((a) => a.labels.alertname === 'RegistrationFailed');
  expect(failedAlert?.labels.severity).toBe('critical');
  // The page that pages links to the Registration page of a sidecar of the project (over
  // http here: no web configuration) and to the runbook that sidecar serves (issue 32).
  const pageUrl = failedAlert?.annotations.page_url ?? '';
  expect(sidecars.map((s) => `http://127.0.0.1:${s.port}/`)).toContain(pageUrl);
  expect(failedAlert?.annotations.runbook_url).toBe(`${pageUrl}runbook#alert-registrationfailed`);
  const runbook = await fetch(`${pageUrl}runbook`);
  expect(runbook.status).toBe(200);
  expect(await runbook.text()).toContain('id="alert-registrationfailed"');
  expect((await fetch(pageUrl)).status).toBe(200);
  expect(degraded.alerts.find((a) => a.labels.alertname === 'RegistrationDegraded')?.annotations.description).toContain('node-3 (30003 LICENSE_IP_ERROR');

  // The failure resolved RegistrationDegraded in Prometheus. Alertmanager got that
  // resolution; a canary alert of the same project makes the team's group send once
  // more — that notification would carry "Degraded resolved" if nothing inhibited it.
  await waitFor(
    'Prometheus to resolve RegistrationDegraded',
    async () => !(await prom.alerts()).some((a) => a.labels.alertname === 'RegistrationDegraded'),
    30_000,
    250,
  );
  await waitFor(
    'Alertmanager to receive a resolved alert',
    async () => {
      const res = await fetch(`${am.url}/metrics`);
      const counts = [...(await res.text()).matchAll(/^alertmanager_alerts_received_total\{[^}]*status="resolved"[^}]*\} (\d+)/gm)];
      return counts.reduce((sum, m) => sum + Number(m[1]), 0) > 0;
    },
    30_000,
    250,
  );
  await am.post([
    {
      labels: { alertname: 'OnCallE2ECanary', severity: 'warning', project: PROJECT },
      annotations: { runbook_url: 'https://example.test/docs/runbook.md#alert-canary' },
    },
  ]);
  const canary = await hook.next('the canary at the team receiver', (n) => n.path.endsWith('/warning') && says(n, 'OnCallE2ECanary', 'firing'), 30_000);
  expect(canary.alerts.map((a) => a.labels.alertname)).not.toContain('RegistrationDegraded');

  // Fix the allow-list and register again: RegistrationFailed is resolved.
  const registerAt = Date.now();
  await createAccount(auth.url, auth.token, { account: ACCOUNT, password: PASSWORD, capacity: 5, allowedIps: ALL_IPS });
  await registerProject(fixture);
  const resolved = await hook.next(
    'RegistrationFailed resolved at the pager',
    (n) => n.path.endsWith('/critical') && says(n, 'RegistrationFailed', 'resolved'),
    90_000,
  );

  // Before register, no one was told that Degraded was resolved: the failure is not a recovery.
  const beforeRegister = hook.notifications.filter((n) => n.receivedAt < registerAt);
  expect(beforeRegister.filter((n) => says(n, 'RegistrationDegraded', 'resolved')).map(summarize)).toEqual([]);
  // Every notification links every alert to its runbook section and to the project's page.
  for (const n of hook.notifications) {
    for (const a of n.alerts) {
      if (a.labels.alertname === 'OnCallE2ECanary') continue;
      expect(a.annotations.runbook_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/runbook#alert-[a-z]+$/);
      expect(a.annotations.page_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    }
  }

  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(
    [
      `on-call chain (heartbeat ${BUSY_INTERVAL_MS / 1000} s, threshold ${THRESHOLD}, scrape and evaluation 1 s, for: 2 s, group timers 1 s):`,
      `  first failed attempt of node-3 -> RegistrationDegraded at the team receiver: ${seconds(degraded.receivedAt - firstFailedAt)}`,
      `  first failed attempt of node-3 -> RegistrationFailed at the pager: ${seconds(failed.receivedAt - firstFailedAt)}`,
      `  register -> RegistrationFailed resolved at the pager: ${seconds(resolved.receivedAt - registerAt)}`,
    ].join('\n'),
  );
});
