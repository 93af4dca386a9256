import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/**
 * Kubernetes as its users deploy monitoring: deploy/kubernetes/monitoring.yaml holds a
 * PodMonitor (HTTPS with basic auth, job fdl-cloudauth) and a PrometheusRule made from
 * deploy/prometheus/alerts.yml, the one source of the rules; and every object of
 * deploy/kubernetes/ validates against the Kubernetes and prometheus-operator schemas,
 * offline (no cluster here).
 */
const ROOT = path.resolve(__dirname, '..', '..');
const K8S = path.join(ROOT, 'deploy/kubernetes');
const VALIDATOR = path.join(ROOT, 'test/support/validate-k8s.mjs');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require('../../scripts/gen-k8s-monitoring.js') as { render(alertsText?: string): string; OUTPUT: string };

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown> };

function objectsOf(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function validate(objects: readonly unknown[]): Array<{ kind: string; name: string | null; error: string | null }> {
  const run = spawnSync(process.execPath, [VALIDATOR], { input: JSON.stringify(objects), encoding: 'utf8', timeout: 30_000, cwd: ROOT });
  if (run.status !== 0) throw new Error(`validate-k8s.mjs failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Array<{ kind: string; name: string | null; error: string | null }>;
}

const manifests = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f));
const monitoring = objectsOf(generator.OUTPUT);
const byKind = (kind: string) => {
  const found = monitoring.find((o) => o.kind === kind);
  if (!found) throw new Error(`no ${kind} in monitoring.yaml`);
  return found;
};

it('monitoring.yaml is what scripts/gen-k8s-monitoring.js makes of alerts.yml today', () => {
  expect(readFileSync(generator.OUTPUT, 'utf8')).toBe(generator.render());
});

it('the PrometheusRule holds exactly the groups and rules of alerts.yml', () => {
  const alerts = parse(readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: unknown[] };
  expect(byKind('PrometheusRule').spec?.groups).toEqual(alerts.groups);
});

it('the PodMonitor scrapes the sidecar port over HTTPS with basic auth as job fdl-cloudauth', () => {
  const sts = objectsOf(path.join(K8S, 'fdl-with-sidecar.yaml')).find((o) => o.kind === 'StatefulSet');
  const template = (sts?.spec?.template ?? {}) as {
    metadata: { labels: Record<string, string> };
    spec: { containers: Array<{ name: string; ports?: Array<{ name: string }> }>; volumes: Array<{ name: string; secret?: { secretName: string } }> };
  };
  const sidecar = template.spec.containers.find((c) => c.name === 'fdl-cloudauth');
  const spec = byKind('PodMonitor').spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<Record<string, unknown>> };
  expect(spec.selector.matchLabels).toEqual(template.metadata.labels);
  const endpoint = spec.podMetricsEndpoints[0] ?? {};
  expect(endpoint).toMatchObject({ port: sidecar?.ports?.[0]?.name, path: '/metrics', scheme: 'https' });
  expect(endpoint.relabelings).toEqual([{ action: 'replace', targetLabel: 'job', replacement: 'fdl-cloudauth' }]);
  const webSecret = template.spec.volumes.find((v) => v.name === 'web')?.secret?.secretName;
  expect(endpoint.tlsConfig).toMatchObject({ ca: { secret: { name: webSecret, key: 'tls.crt' } } });
  expect(endpoint.basicAuth).toBeDefined();
});

it('every object of deploy/kubernetes validates against the Kubernetes and prometheus-operator schemas', () => {
  const objects = manifests.flatMap((f) => objectsOf(path.join(K8S, f)));
  expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'PodMonitor', 'PrometheusRule', 'Secret', 'Service', 'StatefulSet']);
  expect(validate(objects).filter((r) => r.error !== null)).toEqual([]);
});

it('the validation catches a wrong object (so a pass means something)', () => {
  const broken = structuredClone(byKind('PodMonitor')) as unknown as { spec: { podMetricsEndpoints: Array<{ port: unknown }> } };
  (broken.spec.podMetricsEndpoints[0] as { port: unknown }).port = 9464;
  const rule = structuredClone(byKind('PrometheusRule')) as unknown as { spec: { groups: unknown } };
  rule.spec.groups = 'not a list';
  const results = validate([broken, rule]);
  expect(results.map((r) => [r.kind, r.error])).toEqual([
    ['PodMonitor', expect.stringMatching(/port must be string/)],
    ['PrometheusRule', expect.stringMatching(/groups must be array/)],
  ]);
});
