import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  alertmanagerConfigFromShipped,
  amtool,
  SHIPPED_ALERTMANAGER_CONFIG,
  startAlertmanager,
  startWebhookReceiver,
  type TestAlertmanager,
  type WebhookReceiver,
} from '../support/alertmanager';
import { asList, asMap, parseYaml } from '../support/mini-yaml';
import { waitFor } from '../../harness/wait';

/**
 * deploy/alertmanager/alertmanager.yml: valid for amtool (also its commented e-mail,
 * PagerDuty and Slack examples), every alert of alerts.yml routed by its severity,
 * and — in a real Alertmanager — grouping by project and the inhibitions, with alerts
 * posted as Prometheus posts them. The whole chain from a sidecar is in oncall.e2e.test.ts.
 */
jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '..', '..');
const RULES = readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8');
const ALERT_SEVERITIES = [...RULES.matchAll(/^\s*- alert:\s*(\w+)\s*$[\s\S]*?^\s*severity:\s*(\w+)\s*$/gm)].map((m) => [m[1] ?? '', m[2] ?? ''] as const);

describe('amtool', () => {
  it('check-config passes for the shipped file, with its receivers and five inhibit rules', () => {
    const r = amtool(['check-config', SHIPPED_ALERTMANAGER_CONFIG]);
    if (r.code !== 0) throw new Error(r.output);
    expect(r.output).toContain('SUCCESS');
    expect(r.output).toContain('5 inhibit rules');
    expect(r.output).toContain('2 receivers');
  });

  it('its two receivers are used (every alert reaches one), and as shipped they post to loopback: no DNS lookup of a name that does not exist', () => {
    const shipped = readFileSync(SHIPPED_ALERTMANAGER_CONFIG, 'utf8');
    const active = shipped
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .join('\n');
    const urls = [...active.matchAll(/^\s*- url: (\S+)$/gm)].map((m) => new URL(m[1] ?? ''));
    expect(urls.map((u) => u.pathname)).toEqual(['/fdl-cloudauth/critical', '/fdl-cloudauth/warning']);
    for (const url of urls) expect(url.hostname).toBe('127.0.0.1');
    expect(active).not.toContain('example.internal');
    // The file says what it does: its receivers are not "unused" placeholders.
    expect(shipped).not.toMatch(/unused/i);
    expect(shipped).toMatch(/every alert is routed to one of them/);
  });

  it('check-config passes with the e-mail, PagerDuty and Slack examples uncommented, each with the runbook link', () => {
    const shipped = readFileSync(SHIPPED_ALERTMANAGER_CONFIG, 'utf8');
    const examples = shipped.replace(/^#>/gm, '');
    for (const kind of ['pagerduty_configs', 'email_configs', 'slack_configs']) expect(examples).toMatch(new RegExp(`^\\s+${kind}:`, 'm'));
    expect(examples.match(/runbook_url/g)?.length).toBeGreaterThanOrEqual(4);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-am-examples-'));
    try {
      const file = path.join(dir, 'alertmanager.yml');
      writeFileSync(file, examples);
      const r = amtool(['check-config', file]);
      if (r.code !== 0) throw new Error(r.output);
      expect(r.output).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('routes every alert of alerts.yml by its severity: critical pages, warning goes to the team', () => {
    expect(ALERT_SEVERITIES.length).toBeGreaterThanOrEqual(12);
    for (const [alertname, severity] of ALERT_SEVERITIES) {
      const r = amtool([
        'config',
        'routes',
        'test',
        `--config.file=${SHIPPED_ALERTMANAGER_CONFIG}`,
        `alertname=${alertname}`,
        `severity=${severity}`,
        'project=p',
      ]);
      const receiver = r.stdout.trim();
      expect({ alertname, receiver }).toEqual({ alertname, receiver: severity === 'critical' ? 'fdl-cloudauth-pager' : 'fdl-cloudauth-team' });
    }
  });
});

describe('the compose site', () => {
  it('runs Alertmanager with the shipped file, and its Prometheus sends there', () => {
    const compose = asMap(parseYaml(readFileSync(path.join(ROOT, 'deploy/compose/docker-compose.yml'), 'utf8')), 'compose file');
    const am = asMap(asMap(compose.services, 'services').alertmanager, 'alertmanager service');
    expect(asList(am.volumes, 'volumes')).toEqual(['../alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro']);
    const prometheus = asMap(parseYaml(readFileSync(path.join(ROOT, 'deploy/compose/prometheus.yml'), 'utf8')), 'prometheus.yml');
    const targets = asList(asMap(prometheus.alerting, 'alerting').alertmanagers, 'alertmanagers').flatMap((a) =>
      asList(asMap(asList(asMap(a, 'alertmanager').static_configs, 'static_configs')[0], 'static_config').targets, 'targets'),
    );
    expect(targets).toEqual(['alertmanager:9093']);
  });
});

describe('a real Alertmanager with the shipped configuration', () => {
  let am: TestAlertmanager | undefined;
  let receiver: WebhookReceiver | undefined;

  afterAll(async () => {
    await am?.stop();
    await receiver?.close();
  });

  const alert = (alertname: string, severity: string, labels: Record<string, string>) => ({
    labels: { alertname, severity, ...labels },
    annotations: { summary: `${alertname} summary`, runbook_url: `https://example.test/docs/runbook.md#alert-${alertname.toLowerCase()}` },
  });

  it("groups by project (CapacityLow by account), and inhibits Degraded/Critical under Failed, a node's JournalBacklog/NodeStale under its RedisDown, and an account's CapacityLow under its CapacityExhausted", async () => {
    receiver = await startWebhookReceiver();
    am = await startAlertmanager(alertmanagerConfigFromShipped(receiver.url));
    const a = am;
    await a.post([
      // Project "failed": Failed inhibits its Degraded and Critical.
      alert('RegistrationFailed', 'critical', { project: 'failed' }),
      alert('RegistrationDegraded', 'warning', { project: 'failed' }),
      alert('RegistrationCritical', 'critical', { project: 'failed' }),
      // Project "degraded": nothing inhibits its Degraded.
      alert('RegistrationDegraded', 'warning', { project: 'degraded' }),
      // Project "redis": n1's RedisDown inhibits n1's backlog, not n2's.
      alert('RedisDown', 'warning', { project: 'redis', node: 'n1' }),
      alert('JournalBacklog', 'warning', { project: 'redis', node: 'n1' }),
      alert('JournalBacklog', 'warning', { project: 'redis', node: 'n2' }),
      // Account "full": a project's CapacityExhausted inhibits the account's CapacityLow
      // (which stays firing at capacity); account "tight" has a slot left, nothing inhibits it.
      alert('CapacityExhausted', 'warning', { project: 'cap', account: 'full' }),
      alert('CapacityLow', 'warning', { account: 'full' }),
      alert('CapacityLow', 'warning', { account: 'tight' }),
    ]);

    const inhibited = await waitFor(
      'the inhibitions to apply',
      async () => {
        const held = await a.alerts();
        const suppressed = held
          .filter((x) => x.status.inhibitedBy.length > 0)
          .map((x) => `${x.labels.project ?? x.labels.account}/${x.labels.alertname}/${x.labels.node ?? ''}`);
        return held.length === 10 && suppressed.length === 4 ? suppressed.sort() : undefined;
      },
      20_000,
      200,
    );
    expect(inhibited).toEqual(['failed/RegistrationCritical/', 'failed/RegistrationDegraded/', 'full/CapacityLow/', 'redis/JournalBacklog/n1']);

    const r = receiver;
    const pagerFailed = await r.next('the page for project failed', (n) => n.path.endsWith('/critical') && n.groupLabels.project === 'failed');
    expect(pagerFailed.alerts.map((x) => x.labels.alertname)).toEqual(['RegistrationFailed']);
    const teamDegraded = await r.next('the warning for project degraded', (n) => n.path.endsWith('/warning') && n.groupLabels.project === 'degraded');
    expect(teamDegraded.alerts.map((x) => x.labels.alertname)).toEqual(['RegistrationDegraded']);
    const teamRedis = await r.next('the warning for project redis', (n) => n.path.endsWith('/warning') && n.groupLabels.project === 'redis');
    // Grouped by project: one notification for the project's node alerts.
    expect(teamRedis.alerts.map((x) => `${x.labels.alertname}/${x.labels.node ?? ''}`).sort()).toEqual(['JournalBacklog/n2', 'RedisDown/n1']);
    // CapacityLow is grouped by account, one notification for all the account's projects.
    const teamTight = await r.next('the warning for account tight', (n) => n.path.endsWith('/warning') && n.groupLabels.account === 'tight');
    expect(teamTight.alerts.map((x) => x.labels.alertname)).toEqual(['CapacityLow']);
    for (const n of r.notifications) for (const x of n.alerts) expect(x.annotations.runbook_url).toMatch(/runbook\.md#alert-/);
    // Project "failed" never told Degraded or Critical to anyone.
    const toldForFailed = r.notifications.filter((n) => n.groupLabels.project === 'failed').flatMap((n) => n.alerts.map((x) => x.labels.alertname));
    expect([...new Set(toldForFailed)]).toEqual(['RegistrationFailed']);
    const teamCap = await r.next('the warning for project cap', (n) => n.path.endsWith('/warning') && n.groupLabels.project === 'cap');
    expect(teamCap.alerts.map((x) => `${x.labels.alertname}/${x.labels.account}`)).toEqual(['CapacityExhausted/full']);
    // Account "full" never told CapacityLow to anyone.
    expect(r.notifications.flatMap((n) => n.alerts).filter((x) => x.labels.alertname === 'CapacityLow' && x.labels.account === 'full')).toEqual([]);
  });
});
