import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { headings } from '../support/markdown';
import { asList, asMap, asString, parseYaml, type YamlValue } from '../support/mini-yaml';
import { metricReferences, templateQueries, type MetricReference } from '../support/promql-names';
import { checkConfig, checkRules, testRules } from '../support/promtool';
import { METRIC_PREFIX, SPEC_METRICS, specMetricOf } from '../support/spec-metrics';

/**
 * The alerting side of SPEC section 8: alert rules, their promtool unit tests, the
 * example Prometheus config and the Grafana dashboard, held to the SPEC's alert and
 * metric names and to the sections of docs/runbook.md.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const PROM_DIR = path.join(ROOT, 'deploy/prometheus');
const ALERTS_FILE = path.join(PROM_DIR, 'alerts.yml');
const ALERTS_TEST_FILE = path.join(PROM_DIR, 'alerts.test.yml');
const CONFIG_FILE = path.join(PROM_DIR, 'prometheus.yml');
const DASHBOARD_FILE = path.join(ROOT, 'deploy/grafana/fdl-cloudauth-dashboard.json');
const RUNBOOK_FILE = path.join(ROOT, 'docs/runbook.md');

/** The alerts SPEC section 8 requires, with the severity each must page at. */
const REQUIRED_ALERTS: Record<string, 'warning' | 'critical'> = {
  RegistrationDegraded: 'warning',
  RegistrationCritical: 'critical',
  RegistrationFailed: 'critical',
  NodeStale: 'warning',
  NoLeader: 'critical',
  TwoLeaders: 'critical',
  LicenseExpiringSoon: 'warning',
  CapacityExhausted: 'warning',
  CapacityLow: 'warning',
  LocalStateUnwritable: 'warning',
};

/** Series Prometheus itself writes for every target; the only non-SPEC names allowed. */
const PROMETHEUS_SERIES = new Set(['up']);
/** Labels Prometheus attaches on scrape. */
const SCRAPE_LABELS = new Set(['job', 'instance']);

interface AlertRule {
  readonly name: string;
  readonly expr: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

function stringMap(value: YamlValue | undefined, where: string): Record<string, string> {
  if (value === undefined) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(asMap(value, where))) out[k] = asString(v, `${where}.${k}`);
  return out;
}

function loadAlertRules(): AlertRule[] {
  const doc = asMap(parseYaml(readFileSync(ALERTS_FILE, 'utf8')), 'alerts.yml');
  const rules: AlertRule[] = [];
  for (const group of asList(doc.groups, 'groups')) {
    for (const rule of asList(asMap(group, 'group').rules, 'rules')) {
      const r = asMap(rule, 'rule');
      if (r.alert === undefined) continue;
      const name = asString(r.alert, 'alert');
      rules.push({
        name,
        expr: asString(r.expr, `${name}.expr`),
        labels: stringMap(r.labels, `${name}.labels`),
        annotations: stringMap(r.annotations, `${name}.annotations`),
      });
    }
  }
  return rules;
}

function checkReferences(refs: readonly MetricReference[], where: string): string[] {
  const problems: string[] = [];
  for (const ref of refs) {
    if (PROMETHEUS_SERIES.has(ref.metric)) continue;
    const spec = specMetricOf(ref.metric);
    if (!ref.metric.startsWith(METRIC_PREFIX) || !spec) {
      problems.push(`${where}: ${ref.metric} is not a metric of SPEC section 8`);
      continue;
    }
    const allowed = new Set([...spec.labels, ...SCRAPE_LABELS, ...(spec.type === 'histogram' ? ['le'] : [])]);
    for (const label of ref.labels) {
      if (!allowed.has(label)) problems.push(`${where}: ${ref.metric} has no label "${label}"`);
    }
  }
  return problems;
}

const rules = loadAlertRules();

describe('deploy/prometheus', () => {
  it('alerts.yml passes promtool check rules', () => {
    const result = checkRules(ALERTS_FILE);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('alerts.test.yml passes promtool test rules', () => {
    const result = testRules(ALERTS_TEST_FILE);
    if (result.code !== 0) throw new Error(`promtool test rules failed:\n${result.output}`);
    expect(result.output).toContain('SUCCESS');
  }, 180_000);

  it('prometheus.yml passes promtool check config, with its rule file found next to it', () => {
    // Run from elsewhere: rule_files must resolve relative to the config file.
    const result = checkConfig(CONFIG_FILE);
    if (result.code !== 0) throw new Error(`promtool check config failed:\n${result.output}`);
    expect(result.output).toContain('1 rule files found');
    const config = asMap(parseYaml(readFileSync(CONFIG_FILE, 'utf8')), 'prometheus.yml');
    const jobs = asList(config.scrape_configs, 'scrape_configs').map((j) => asMap(j, 'job'));
    const job = jobs.find((j) => j.job_name === 'fdl-cloudauth');
    expect(job).toBeDefined();
    const targets = asList(job?.static_configs, 'static_configs').flatMap((s) => asList(asMap(s, 'static_config').targets, 'targets'));
    expect(targets).toHaveLength(3);
    for (const t of targets) expect(asString(t, 'target')).toMatch(/:9464$/);
    expect(asList(config.rule_files, 'rule_files')).toEqual(['alerts.yml']);
    expect(asList(asMap(config.alerting, 'alerting').alertmanagers, 'alertmanagers').length).toBeGreaterThan(0);
    expect(readFileSync(CONFIG_FILE, 'utf8')).toMatch(/#\s*kubernetes_sd_configs:/);
  });
});

describe('exporter conventions', () => {
  it('no series has a label named like a target label (instance, job): Prometheus would rename it exported_*', () => {
    expect(SPEC_METRICS.filter((m) => m.labels.some((l) => SCRAPE_LABELS.has(l))).map((m) => m.name)).toEqual([]);
  });
});

describe('alert rules', () => {
  it('include every alert of SPEC section 8 at its severity', () => {
    const names = rules.map((r) => r.name);
    for (const [name, severity] of Object.entries(REQUIRED_ALERTS)) {
      expect(names).toContain(name);
      expect(rules.find((r) => r.name === name)?.labels.severity).toBe(severity);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(rules.map((r) => [r.name, r] as const))('%s has a severity, a summary, a description and a runbook link', (name, rule) => {
    expect(['warning', 'critical']).toContain(rule.labels.severity);
    expect(rule.annotations.summary?.length ?? 0).toBeGreaterThan(10);
    expect(rule.annotations.description?.length ?? 0).toBeGreaterThan(30);
    // Written by scripts/gen-k8s-monitoring.js from one setting (test/alerting/alert-links.test.ts).
    expect(rule.annotations.runbook_url).toMatch(new RegExp(`runbook#alert-${name.toLowerCase()}$`));
  });

  it('link every runbook to a heading of docs/runbook.md', () => {
    const anchors = new Set(headings(readFileSync(RUNBOOK_FILE, 'utf8')).map((h) => h.anchor));
    const missing = rules.filter((r) => !anchors.has((r.annotations.runbook_url ?? '').split('#').pop() ?? ''));
    expect(missing.map((r) => `${r.name}: no heading "### Alert: ${r.name}" in docs/runbook.md`)).toEqual([]);
  });

  it('name only SPEC metrics and their labels, in expressions and in annotation queries', () => {
    const problems: string[] = [];
    for (const rule of rules) {
      const refs = metricReferences(rule.expr);
      expect(refs.length).toBeGreaterThan(0);
      problems.push(...checkReferences(refs, `${rule.name}.expr`));
      for (const [key, text] of Object.entries(rule.annotations)) {
        for (const query of templateQueries(text)) problems.push(...checkReferences(metricReferences(query), `${rule.name}.${key}`));
        for (const word of text.match(/\bfdl_cloudauth_\w+/g) ?? []) {
          if (!specMetricOf(word)) problems.push(`${rule.name}.${key}: ${word} is not a metric of SPEC section 8`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('are tested by alerts.test.yml, each with a case where it fires and one where it does not', () => {
    const doc = asMap(parseYaml(readFileSync(ALERTS_TEST_FILE, 'utf8')), 'alerts.test.yml');
    expect(asList(doc.rule_files, 'rule_files')).toEqual(['alerts.yml']);
    const fires = new Set<string>();
    const silent = new Set<string>();
    let checkedAnnotations = 0;
    for (const test of asList(doc.tests, 'tests')) {
      for (const c of asList(asMap(test, 'test').alert_rule_test ?? '[]', 'alert_rule_test')) {
        const entry = asMap(c, 'alert_rule_test entry');
        const name = asString(entry.alertname, 'alertname');
        const expected = asList(entry.exp_alerts ?? '[]', `${name}.exp_alerts`);
        if (expected.length === 0) silent.add(name);
        else fires.add(name);
        for (const e of expected) {
          const annotations = stringMap(asMap(e, 'exp_alert').exp_annotations, `${name}.exp_annotations`);
          if (annotations.description && annotations.summary) checkedAnnotations++;
        }
      }
    }
    const names = rules.map((r) => r.name);
    expect(names.filter((n) => !fires.has(n)).map((n) => `${n} never fires in a test`)).toEqual([]);
    expect(names.filter((n) => !silent.has(n)).map((n) => `${n} has no case where it stays silent`)).toEqual([]);
    expect([...fires, ...silent].filter((n) => !names.includes(n))).toEqual([]);
    expect(checkedAnnotations).toBeGreaterThanOrEqual(2);
  });

  it('do not ship test-sized durations', () => {
    const text = readFileSync(ALERTS_FILE, 'utf8');
    for (const m of text.matchAll(/^\s*for:\s*(\d+)([smh])\s*$/gm)) {
      const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
      expect(seconds).toBeGreaterThanOrEqual(60);
    }
  });
});

interface DashboardTarget {
  expr?: string;
}
interface DashboardPanel {
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}
interface Dashboard {
  schemaVersion: number;
  title: string;
  uid: string;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown; definition?: string }> };
}

function allPanels(panels: readonly DashboardPanel[]): DashboardPanel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
  const panels = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '?', expr: t.expr ?? '' })));

  it("has a datasource variable, a project variable from label_values, and the project's account", () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const vars = dashboard.templating.list;
    expect(vars.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    const project = vars.find((v) => v.name === 'project');
    expect(project?.definition).toBe('label_values(fdl_cloudauth_project_status, project)');
    // The account of the selected project, for the Account row.
    expect(vars.find((v) => v.name === 'account')?.definition).toBe('label_values(fdl_cloudauth_license_slots{project="$project"}, account)');
    for (const p of panels) expect(p.datasource?.uid).toBe('${datasource}');
  });

  it('shows every part the on-call needs', () => {
    const titles = panels.map((p) => p.title ?? '');
    for (const wanted of [
      'Project status',
      'Time left before Registration Failed',
      'Node status',
      'Consecutive failures per node',
      'Shown failure reason per node',
      'Attempts and failures per hour',
      'License expires in',
      'License slots',
      'Leader',
      'Journal pending',
      'Redis reachable',
      'Heartbeat duration',
      'Account slots',
      'Projects of the account',
      'Capacity refusals per hour (account)',
    ]) {
      expect(titles).toContain(wanted);
    }
    for (const { panel, expr } of exprs) {
      expect(expr.length).toBeGreaterThan(0);
      // Cluster series come from whichever sidecar leads: scope every query to the
      // project, or — in the Account row — to the project's account.
      if (!expr.includes('fdl_cloudauth_build_info')) expect(`${panel}: ${expr}`).toMatch(/project="\$project"|account="\$account"/);
    }
  });

  it("has an Account row: the account's capacity, bound and free slots, its projects, and its capacity refusals", () => {
    const row = dashboard.panels.find((p) => p.type === 'row' && p.title === 'Account $account');
    expect(row).toBeDefined();
    const exprsOf = (title: string): string[] => (panels.find((p) => p.title === title)?.targets ?? []).map((t) => t.expr ?? '');
    // max, not sum: every project of the account reports the account's own figures.
    expect(exprsOf('Account slots')).toEqual([
      'max by (kind) (fdl_cloudauth_license_slots{account="$account"})',
      'max(fdl_cloudauth_license_slots{account="$account",kind="capacity"}) - max(fdl_cloudauth_license_slots{account="$account",kind="bound"})',
    ]);
    expect(exprsOf('Projects of the account').every((e) => e.startsWith('max by (project) (fdl_cloudauth_license_slots{account="$account"'))).toBe(true);
    // The refusals carry no account: the projects of the account are joined on project.
    expect(exprsOf('Capacity refusals per hour (account)')).toEqual([
      'sum by (project) (increase(fdl_cloudauth_capacity_refusals_total[1h])) and on (project) max by (project) (fdl_cloudauth_license_slots{account="$account"})',
    ]);
  });

  it('queries only SPEC metrics and labels, and uses all of them', () => {
    const problems: string[] = [];
    const used = new Set<string>();
    for (const { panel, expr } of exprs) {
      const refs = metricReferences(expr);
      expect(refs.length).toBeGreaterThan(0);
      problems.push(...checkReferences(refs, panel));
      for (const r of refs) {
        const spec = specMetricOf(r.metric);
        if (spec) used.add(spec.name);
      }
    }
    expect(problems).toEqual([]);
    const unused = [
      'project_status',
      'node_status',
      'node_consecutive_failures',
      'node_failure_reason',
      'lockout_seconds',
      'license_slots',
      'leader',
      'journal_pending',
      'redis_up',
      'heartbeat_duration_seconds',
      'capacity_refusals_total',
    ]
      .map((n) => `${METRIC_PREFIX}${n}`)
      .filter((n) => !used.has(n));
    expect(unused).toEqual([]);
  });

  it('holds PromQL that Prometheus parses', () => {
    // promtool check rules parses every expression of a rule file: wrap each query
    // in a recording rule, with Grafana's variables replaced by values.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-dashboard-'));
    try {
      const lines = ['groups:', '  - name: dashboard', '    rules:'];
      exprs.forEach(({ expr }, i) => {
        const concrete = expr
          .replace(/\$__range|\$__rate_interval|\$__interval/g, '5m')
          .replace(/\$\{?project\}?/g, 'demo')
          .replace(/\$\{?account\}?/g, 'acme');
        lines.push(`      - record: dashboard_query_${i}`, `        expr: ${JSON.stringify(concrete)}`);
      });
      const file = path.join(dir, 'dashboard-queries.yml');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const result = checkRules(file);
      if (result.code !== 0) throw new Error(`dashboard queries do not parse:\n${result.output}`);
      expect(result.output).toContain(`${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the checkers above', () => {
  // The checks are only as good as the name finder: prove it catches what it should.
  it('find metric names and matcher labels, not functions, aggregations or label lists', () => {
    expect(
      metricReferences(
        'sum by (project, le) (rate(fdl_cloudauth_x_bucket{project="$project",le!=""}[$__rate_interval])) / on (project) group_left max(fdl_cloudauth_y) > bool 1 unless up{job="j"}',
      ),
    ).toEqual([
      { metric: 'fdl_cloudauth_x_bucket', labels: ['project', 'le'] },
      { metric: 'fdl_cloudauth_y', labels: [] },
      { metric: 'up', labels: ['job'] },
    ]);
    expect(templateQueries('{{ with printf "min(fdl_cloudauth_lockout_seconds{project=%q})" $labels.project | query }}')).toEqual([
      'min(fdl_cloudauth_lockout_seconds{project="x"})',
    ]);
  });

  it('reject a metric or a label that the SPEC does not have', () => {
    expect(checkReferences(metricReferences('fdl_cloudauth_project_state{project="p"}'), 'e')).toEqual([
      'e: fdl_cloudauth_project_state is not a metric of SPEC section 8',
    ]);
    expect(checkReferences(metricReferences('fdl_cloudauth_project_status{state="failed"}'), 'e')).toEqual([
      'e: fdl_cloudauth_project_status has no label "state"',
    ]);
    expect(checkReferences(metricReferences('fdl_cloudauth_heartbeat_duration_seconds_bucket{le="1"}'), 'e')).toEqual([]);
  });

  it('read the YAML subset of the rule files', () => {
    expect(parseYaml('a:\n  - b: 1\n    c: |\n      x\n      y\n  - "q: r"\nd: >-\n  one\n  two\ne: []\n')).toEqual({
      a: [{ b: '1', c: 'x\ny\n' }, 'q: r'],
      d: 'one two',
      e: '[]',
    });
    expect(() => parseYaml('a: {b: 1}\n')).toThrow(/flow collections/);
  });
});
