import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Alerts and the dashboard lead on-call to the Registration page. The promtool unit
 * tests (deploy/prometheus/alerts.test.yml, run by alerts.test.ts) check the
 * rendered page_url; this checks the wiring is there.
 */
const ROOT = path.resolve(__dirname, '..', '..');

interface Variable {
  name: string;
  definition?: string;
  regex?: string;
}

it('the Grafana dashboard links to the page of the sidecar that leads the selected project', () => {
  const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/fdl-cloudauth-dashboard.json'), 'utf8')) as {
    links: Array<{ title: string; url: string }>;
    templating: { list: Variable[] };
  };
  expect(dashboard.links.find((l) => l.title === 'Registration page')?.url).toBe('http://${page}/');
  const page = dashboard.templating.list.find((v) => v.name === 'page');
  expect(page?.definition).toBe('query_result(max by (instance) (fdl_cloudauth_leader{project="$project"}) == 1)');
  expect(new RegExp((page?.regex ?? '').slice(1, -1)).exec('{instance="10.0.0.2:9464"} 1 1700000000000')?.[1]).toBe('10.0.0.2:9464');
});

it('the registration alerts carry a page_url annotation', () => {
  const rules = readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8');
  for (const alert of ['RegistrationDegraded', 'RegistrationFailed']) {
    const start = rules.indexOf(`- alert: ${alert}\n`);
    const block = rules.slice(start, rules.indexOf('- alert:', start + 1));
    expect(block).toContain('page_url: \'{{ with printf "max by (instance) (fdl_cloudauth_leader{project=%q}) == 1" $labels.project | query }}http://');
  }
});
