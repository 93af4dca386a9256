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
  // The scheme follows the sidecar's TLS (fdl_cloudauth_web_info), not a written-out http://.
  expect(dashboard.links.find((l) => l.title === 'Registration page')?.url).toBe('${page_scheme}://${page}/');
  const query =
    'query_result(max by (instance, scheme) (fdl_cloudauth_web_info{project="$project"} and on (instance) (fdl_cloudauth_leader{project="$project"} == 1)))';
  const result = '{instance="10.0.0.2:9464", scheme="https"} 1 1700000000000';
  for (const [name, value] of [
    ['page', '10.0.0.2:9464'],
    ['page_scheme', 'https'],
  ]) {
    const v = dashboard.templating.list.find((x) => x.name === name);
    expect(v?.definition).toBe(query);
    expect(new RegExp((v?.regex ?? '').slice(1, -1)).exec(result)?.[1]).toBe(value);
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
