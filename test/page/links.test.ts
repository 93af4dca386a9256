import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testRules } from '../support/promtool';

/**
 * Alerts and the dashboard lead on-call to the Registration page. The promtool unit
 * tests (deploy/prometheus/alerts.test.yml, run by alerts.test.ts) check the
 * rendered page_url; this checks the dashboard's link makes the same choice, with its
 * query evaluated by promtool on series a real scrape would hold.
 */
const ROOT = path.resolve(__dirname, '..', '..');

interface Variable {
  name: string;
  definition?: string;
  regex?: string;
}

const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/fdl-cloudauth-dashboard.json'), 'utf8')) as {
  links: Array<{ title: string; url: string }>;
  templating: { list: Variable[] };
};
const pageUrl = dashboard.templating.list.find((x) => x.name === 'page_url') as Variable;

/** The variable's PromQL as Prometheus receives it for project "demo". */
function pageQuery(): string {
  const definition = pageUrl.definition ?? '';
  const inner = /^query_result\((.*)\)$/s.exec(definition)?.[1];
  if (!inner) throw new Error(`page_url is not a query_result(...) variable: ${definition}`);
  return inner.replace(/\$project\b/g, 'demo');
}

/** Grafana applies the variable's regex to each result line: `{labels} value time`. */
function extracted(labels: Record<string, string>, value: number): string | undefined {
  const line = `{${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}} ${value} 1700000000000`;
  return new RegExp((pageUrl.regex ?? '').slice(1, -1)).exec(line)?.[1];
}

it('links to the page and the runbook through one variable, the page_url the alerts use', () => {
  expect(dashboard.links.find((l) => l.title === 'Registration page')?.url).toBe('${page_url:raw}');
  expect(dashboard.links.find((l) => l.title === 'Troubleshooting')?.url).toBe('${page_url:raw}runbook');
  expect(dashboard.templating.list.map((v) => v.name)).not.toContain('page_scheme');
  // The regex takes page_url, not the external_url label that ends in the same letters.
  expect(extracted({ external_url: 'https://x.example/', page_url: 'https://x.example/', instance: 'a:1' }, 2)).toBe('https://x.example/');
  expect(extracted({ instance: '10.0.0.2:9464', page_url: 'http://10.0.0.2:9464/', scheme: 'http' }, 1)).toBe('http://10.0.0.2:9464/');
});

it("chooses the leader's sidecar first, its external URL when set, and any sidecar when no one leads (promtool)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-dashboard-link-'));
  try {
    writeFileSync(path.join(dir, 'none.yml'), 'groups: []\n');
    const info = (instance: string, node: string, scheme: string, external = '') =>
      `fdl_cloudauth_web_info{project="demo",node="${node}",scheme="${scheme}",external_url="${external}",instance="${instance}",job="fdl"}`;
    const leader = (instance: string, holder: string, values: string) =>
      `      - series: 'fdl_cloudauth_leader{project="demo",holder="${holder}",instance="${instance}",job="fdl"}'\n        values: '${values}'`;
    const expr = pageQuery();
    const sample = (instance: string, scheme: string, url: string, value: number, external = '') =>
      [
        `          - labels: '{instance="${instance}",scheme="${scheme}",page_url="${url}"${external ? `,external_url="${external}"` : ''}}'`,
        `            value: ${value}`,
      ].join('\n');
    const file = [
      'rule_files: [none.yml]',
      'evaluation_interval: 1m',
      'tests:',
      // n2 leads; neither sets an external URL: the leader's scheme://instance/ ranks first.
      '  - interval: 1m',
      '    input_series:',
      `      - series: '${info('10.0.0.1:9464', 'n1', 'https')}'\n        values: '1x5'`,
      `      - series: '${info('10.0.0.2:9464', 'n2', 'https')}'\n        values: '1x5'`,
      leader('10.0.0.1:9464', 'n2', '0x5'),
      leader('10.0.0.2:9464', 'n2', '1x5'),
      '    promql_expr_test:',
      `      - expr: '${expr.replace(/'/g, "''")}'`,
      '        eval_time: 2m',
      '        exp_samples:',
      sample('10.0.0.2:9464', 'https', 'https://10.0.0.2:9464/', 2),
      sample('10.0.0.1:9464', 'https', 'https://10.0.0.1:9464/', 1),
      // The leader sets http.externalUrl: the link is that URL.
      '  - interval: 1m',
      '    input_series:',
      `      - series: '${info('10.0.0.1:9464', 'n1', 'http')}'\n        values: '1x5'`,
      `      - series: '${info('10.0.0.2:9464', 'n2', 'http', 'https://fdl-2.example.com/')}'\n        values: '1x5'`,
      leader('10.0.0.2:9464', 'n2', '1x5'),
      '    promql_expr_test:',
      `      - expr: '${expr.replace(/'/g, "''")}'`,
      '        eval_time: 2m',
      '        exp_samples:',
      sample('10.0.0.2:9464', 'http', 'https://fdl-2.example.com/', 2, 'https://fdl-2.example.com/'),
      sample('10.0.0.1:9464', 'http', 'http://10.0.0.1:9464/', 1),
      // No sidecar leads (no leader series scraped): any sidecar's page still opens.
      '  - interval: 1m',
      '    input_series:',
      `      - series: '${info('10.0.0.3:9464', 'n3', 'http')}'\n        values: '1x5'`,
      '    promql_expr_test:',
      `      - expr: '${expr.replace(/'/g, "''")}'`,
      '        eval_time: 2m',
      '        exp_samples:',
      sample('10.0.0.3:9464', 'http', 'http://10.0.0.3:9464/', 1),
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'link.test.yml'), file);
    const result = testRules(path.join(dir, 'link.test.yml'));
    if (result.code !== 0) throw new Error(`promtool test rules failed:\n${result.output}\n${file}`);
    expect(result.output).toContain('SUCCESS');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('the registration alerts carry a page_url annotation (every paging alert: test/alerting/alert-links.test.ts)', () => {
  const rules = readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8');
  for (const alert of ['RegistrationDegraded', 'RegistrationCritical', 'RegistrationFailed']) {
    const start = rules.indexOf(`- alert: ${alert}\n`);
    const block = rules.slice(start, rules.indexOf('- alert:', start + 1));
    expect(block).toContain('page_url: \'{{ with printf "sort_desc(max by (instance, scheme, external_url) ((fdl_cloudauth_web_info{project=%q}');
  }
});
