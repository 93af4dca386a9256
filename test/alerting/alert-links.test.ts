import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asList, asMap, asString, parseYaml } from '../support/mini-yaml';
import { parse } from 'yaml';
import { testRules } from '../support/promtool';

/**
 * Alerts that reach people with their links (issue 32): every alert that can page
 * carries the Registration page (`page_url`) and its runbook (`runbook_url`); the
 * page's scheme and host come from the sidecars' own `fdl_cloudauth_web_info`
 * (http.externalUrl, TLS), never a hard-coded `http://`; the runbook links come from
 * ONE setting, written into every copy by scripts/gen-k8s-monitoring.js — alerts.yml,
 * the promtool cases of alerts.test.yml and the PrometheusRule of monitoring.yaml.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const ALERTS_FILE = path.join(ROOT, 'deploy/prometheus/alerts.yml');
const ALERTS_TEST_FILE = path.join(ROOT, 'deploy/prometheus/alerts.test.yml');
const ALERTMANAGER_FILE = path.join(ROOT, 'deploy/alertmanager/alertmanager.yml');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require('../../scripts/gen-k8s-monitoring.js') as {
  rewriteAlerts(text: string, base: string): string;
  rewriteAlertTests(text: string, base: string): string;
  render(alertsText: string, base: string): string;
  runbookBase(value: string): string;
  RUNBOOK_URL_ENV: string;
};

const alertsText = readFileSync(ALERTS_FILE, 'utf8');
const testsText = readFileSync(ALERTS_TEST_FILE, 'utf8');

interface Rule {
  name: string;
  severity: string;
  annotations: Record<string, string>;
}

function rulesOf(text: string): Rule[] {
  const doc = asMap(parseYaml(text), 'alerts.yml');
  return asList(doc.groups, 'groups').flatMap((g) =>
    asList(asMap(g, 'group').rules, 'rules')
      .map((r) => asMap(r, 'rule'))
      .filter((r) => r.alert !== undefined)
      .map((r) => ({
        name: asString(r.alert, 'alert'),
        severity: asString(asMap(r.labels, 'labels').severity, 'severity'),
        annotations: Object.fromEntries(Object.entries(asMap(r.annotations, 'annotations')).map(([k, v]) => [k, asString(v, k)])),
      })),
  );
}

/** The severities Alertmanager sends to the pager (deploy/alertmanager/alertmanager.yml). */
function pagingSeverities(): string[] {
  const config = parse(readFileSync(ALERTMANAGER_FILE, 'utf8')) as { route: { routes: Array<{ receiver: string; matchers?: string[] }> } };
  return config.route.routes
    .filter((r) => r.receiver === 'fdl-cloudauth-pager')
    .flatMap((r) => (r.matchers ?? []).map((m) => /^severity="(\w+)"$/.exec(m)?.[1] ?? '?'));
}

/** Every firing case of alerts.test.yml: the alert and the annotations it expects. */
function firingCases(text: string): Array<{ alert: string; annotations: Record<string, string> }> {
  const doc = asMap(parseYaml(text), 'alerts.test.yml');
  const out: Array<{ alert: string; annotations: Record<string, string> }> = [];
  for (const test of asList(doc.tests, 'tests')) {
    for (const c of asList(asMap(test, 'test').alert_rule_test ?? '[]', 'alert_rule_test')) {
      const entry = asMap(c, 'case');
      const alert = asString(entry.alertname, 'alertname');
      for (const e of asList(entry.exp_alerts ?? '[]', 'exp_alerts')) {
        const exp = asMap(asMap(e, 'exp_alert').exp_annotations ?? '{}', 'exp_annotations');
        out.push({ alert, annotations: Object.fromEntries(Object.entries(exp).map(([k, v]) => [k, asString(v, k)])) });
      }
    }
  }
  return out;
}

const rules = rulesOf(alertsText);
const paging = new Set(pagingSeverities());
const pagingAlerts = rules.filter((r) => paging.has(r.severity));

it('pages at critical, and four alerts page', () => {
  expect([...paging]).toEqual(['critical']);
  expect(pagingAlerts.map((r) => r.name).sort()).toEqual(['NoLeader', 'RegistrationCritical', 'RegistrationFailed', 'TwoLeaders']);
});

it.each(pagingAlerts.map((r) => [r.name, r] as const))('%s, which pages, carries page_url and runbook_url', (_name, rule) => {
  expect(rule.annotations.page_url).toContain('fdl_cloudauth_web_info{project=%q}');
  expect(rule.annotations.runbook_url).toContain(`runbook#alert-${rule.name.toLowerCase()}`);
});

it('every link follows the sidecar: its external URL or its scheme (TLS), never a written-out http://', () => {
  for (const r of rules) {
    for (const key of ['page_url', 'runbook_url'] as const) {
      const v = r.annotations[key];
      if (v === undefined) continue;
      expect(`${r.name}.${key}: ${v}`).not.toMatch(/https?:\/\//);
      expect(v).toContain('{{ if .Labels.external_url }}{{ .Labels.external_url }}{{ else }}{{ .Labels.scheme }}://{{ .Labels.instance }}/{{ end }}');
    }
  }
  expect(`${alertsText}${testsText}${readFileSync(path.join(ROOT, 'deploy/kubernetes/monitoring.yaml'), 'utf8')}`).not.toContain('github.com/fdl-cloudauth');
  expect(readFileSync(path.join(ROOT, 'deploy/grafana/fdl-cloudauth-dashboard.json'), 'utf8')).not.toContain('github.com/fdl-cloudauth');
});

it('the promtool cases check page_url and runbook_url on every firing case of every paging alert', () => {
  const cases = firingCases(testsText);
  for (const alert of pagingAlerts.map((r) => r.name)) {
    const mine = cases.filter((c) => c.alert === alert);
    expect(mine.length).toBeGreaterThan(0);
    for (const c of mine) {
      expect(`${alert}: ${c.annotations.page_url ?? 'no page_url'}`).toMatch(/: (https?:\/\/\S+\/|<any sidecar of \S+>\/)$/);
      expect(c.annotations.runbook_url).toBe(`${c.annotations.page_url ?? ''}runbook#alert-${alert.toLowerCase()}`);
    }
  }
  // And the cases cover a leader over plain HTTP, TLS, an external URL, and no leader.
  const pages = new Set(cases.map((c) => c.annotations.page_url));
  for (const url of ['http://10.0.0.2:9464/', 'https://10.0.0.1:9464/', 'https://fdl-1.example.com/cloudauth/', 'https://10.0.0.2:9464/'])
    expect(pages).toContain(url);
  // Every firing case of every alert checks its runbook link.
  expect(cases.filter((c) => c.annotations.runbook_url === undefined).map((c) => c.alert)).toEqual([]);
});

it('alerts.yml and alerts.test.yml hold the links the generator writes (node scripts/gen-k8s-monitoring.js)', () => {
  expect(generator.rewriteAlerts(alertsText, '')).toBe(alertsText);
  expect(generator.rewriteAlertTests(testsText, '')).toBe(testsText);
});

it('one setting moves every runbook link, in the rules, their tests and the PrometheusRule', () => {
  const base = 'https://wiki.example.com/fdl-cloudauth/runbook.html';
  const alerts = generator.rewriteAlerts(alertsText, base);
  for (const r of rulesOf(alerts)) expect(r.annotations.runbook_url).toBe(`${base}#alert-${r.name.toLowerCase()}`);
  // page_url does not depend on the setting.
  expect(rulesOf(alerts).map((r) => r.annotations.page_url)).toEqual(rules.map((r) => r.annotations.page_url));
  const monitoring = generator.render(alertsText, base);
  expect(monitoring.match(/runbook_url: https:\/\/wiki\.example\.com/g)?.length).toBe(rules.length);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-alert-links-'));
  try {
    writeFileSync(path.join(dir, 'alerts.yml'), alerts);
    writeFileSync(path.join(dir, 'alerts.test.yml'), generator.rewriteAlertTests(testsText, base));
    const result = testRules(path.join(dir, 'alerts.test.yml'));
    if (result.code !== 0) throw new Error(`promtool test rules with a runbook base URL:\n${result.output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a bad setting is refused with the variable and the fix', () => {
  expect(() => generator.runbookBase('wiki/runbook')).toThrow(/FDL_CLOUDAUTH_RUNBOOK_URL: "wiki\/runbook" is not an absolute URL; give e\.g\./);
  expect(() => generator.runbookBase('https://wiki.example.com/r#x')).toThrow(/without a #fragment/);
  expect(generator.runbookBase('')).toBe('');
});
