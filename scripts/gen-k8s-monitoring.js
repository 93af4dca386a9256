#!/usr/bin/env node
'use strict';
/**
 * Writes every copy of the alerts' links and the Kubernetes monitoring objects, from
 * deploy/prometheus/alerts.yml (the one source of the rules) and ONE setting, the
 * runbook's base URL:
 *
 * - the `page_url` and `runbook_url` annotations of every alert in alerts.yml;
 * - the expected `runbook_url` of every case in alerts.test.yml (promtool's unit tests);
 * - deploy/kubernetes/monitoring.yaml — the PodMonitor that scrapes every sidecar over
 *   TLS with basic auth, and the PrometheusRule holding alerts.yml — for clusters
 *   monitored by the Prometheus Operator.
 *
 *   node scripts/gen-k8s-monitoring.js                       # runbook served by the sidecars
 *   FDL_CLOUDAUTH_RUNBOOK_URL=https://wiki.example.com/fdl-cloudauth/runbook \
 *     node scripts/gen-k8s-monitoring.js                     # your copy of docs/runbook.md
 *
 * The setting is kube-prometheus' `runbookURLPattern` reduced to what we need: a base
 * URL, to which `#alert-<name>` is appended. Without it (the default), the runbook is
 * the one the sidecars serve at `/runbook` — the repository has no public home to
 * link to, and a link into a sidecar opens wherever its Registration page opens, on an
 * air-gapped FDL site too, and always matches the running version (docs/operations.md,
 * "Alert links").
 *
 * `page_url` (every alert about a project) links to the Registration page of a
 * sidecar of that project, its leader when there is one: the address and scheme come
 * from the sidecar's own `fdl_cloudauth_web_info` series (its http.externalUrl, else
 * the scraped `instance` with https when its web configuration has TLS), never a
 * hard-coded `http://`. test/deploy/kubernetes-monitoring.process.test.ts and
 * test/alerting/alert-links.test.ts fail until the files match what this writes.
 */
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { parse, stringify } = require('yaml');

const ROOT = path.resolve(__dirname, '..');
const ALERTS = path.join(ROOT, 'deploy/prometheus/alerts.yml');
const ALERTS_TEST = path.join(ROOT, 'deploy/prometheus/alerts.test.yml');
const OUTPUT = path.join(ROOT, 'deploy/kubernetes/monitoring.yaml');
const LABELS = { 'app.kubernetes.io/name': 'fdl-cloudauth' };
const RUNBOOK_URL_ENV = 'FDL_CLOUDAUTH_RUNBOOK_URL';

/** The setting: '' (the sidecars' /runbook) or an absolute http(s) URL without a fragment. */
function runbookBase(value = process.env[RUNBOOK_URL_ENV] ?? '') {
  if (value === '') return '';
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(
      `${RUNBOOK_URL_ENV}: ${JSON.stringify(value)} is not an absolute URL; give e.g. https://wiki.example.com/fdl-cloudauth/runbook.html, or leave it unset for the sidecars' /runbook`,
    );
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.hash) {
    throw new Error(`${RUNBOOK_URL_ENV}: give an http(s) URL without a #fragment (the alert's #alert-<name> is appended)`);
  }
  return value;
}

// A sidecar of the project, its leader first (2 for the leader, 1 for the others), then
// any sidecar at all (alerts about no project): the series each sidecar exports about
// how people reach it.
const PROJECT_SIDECARS =
  'sort_desc(max by (instance, scheme, external_url) ((fdl_cloudauth_web_info{project=%q} + on (instance) group_left () max by (instance) (fdl_cloudauth_leader{project=%q})) or fdl_cloudauth_web_info{project=%q}))';
const ANY_SIDECAR = 'max by (instance, scheme, external_url) (fdl_cloudauth_web_info)';

/** The template of a sidecar's base URL (ending in `/`), then `suffix`; `placeholder` when no sidecar exports its web info. */
function sidecarUrl(projectScoped, suffix) {
  const lookup = projectScoped
    ? `printf "${PROJECT_SIDECARS}" $labels.project $labels.project $labels.project | query`
    : `printf "${ANY_SIDECAR}" | query | sortByLabel "instance"`;
  const placeholder = projectScoped ? '<any sidecar of {{ $labels.project }}>/' : '<any fdl-cloudauth sidecar>/';
  return (
    `{{ with ${lookup} }}{{ with . | first }}{{ if .Labels.external_url }}{{ .Labels.external_url }}{{ else }}{{ .Labels.scheme }}://{{ .Labels.instance }}/{{ end }}{{ end }}` +
    `{{ else }}${placeholder}{{ end }}${suffix}`
  );
}

function anchor(alert) {
  return `alert-${alert.toLowerCase()}`;
}

/** The link annotations of one alert: page_url when it is about a project, runbook_url always. */
function linkAnnotations(alert, projectScoped, base = runbookBase()) {
  const out = {};
  if (projectScoped) out.page_url = sidecarUrl(true, '');
  out.runbook_url = base ? `${base}#${anchor(alert)}` : sidecarUrl(projectScoped, `runbook#${anchor(alert)}`);
  return out;
}

function quote(value) {
  return `'${value.replace(/'/g, "''")}'`;
}

const indentOf = (line) => line.length - line.trimStart().length;
const LINK_KEY = /^\s*(page_url|runbook_url):/;

/** alerts.yml with the link annotations of every alert written from the setting; everything else kept as it is. */
function rewriteAlerts(text, base = runbookBase()) {
  const lines = text.split('\n');
  const starts = [];
  lines.forEach((l, i) => /^\s*- alert: \S+\s*$/.test(l) && starts.push(i));
  const out = lines.slice(0, starts[0] ?? lines.length);
  starts.forEach((start, n) => {
    const end = starts[n + 1] ?? lines.length;
    // Old link lines go, with the comment lines right above a page_url.
    const chunk = [];
    for (const line of lines.slice(start, end)) {
      if (LINK_KEY.test(line)) {
        while (chunk.length > 0 && /^\s*#/.test(chunk[chunk.length - 1]) && /page_url/.test(line)) chunk.pop();
        continue;
      }
      chunk.push(line);
    }
    const alert = /- alert: (\S+)/.exec(chunk[0])[1];
    const annotationsAt = chunk.findIndex((l) => /^\s*annotations:\s*$/.test(l));
    if (annotationsAt < 0) throw new Error(`alerts.yml: ${alert} has no annotations`);
    const keyIndent = indentOf(chunk[annotationsAt]) + 2;
    let after = annotationsAt + 1;
    while (after < chunk.length && chunk[after].trim() !== '' && indentOf(chunk[after]) >= keyIndent) after++;
    const projectScoped = chunk.slice(annotationsAt).join('\n').includes('$labels.project');
    const links = Object.entries(linkAnnotations(alert, projectScoped, base)).map(([k, v]) => `${' '.repeat(keyIndent)}${k}: ${quote(v)}`);
    out.push(...chunk.slice(0, after), ...links, ...chunk.slice(after));
  });
  return out.join('\n');
}

function unquote(value) {
  const v = value.trim();
  if (v.startsWith('"')) return JSON.parse(v);
  if (v.startsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  return v;
}

/**
 * alerts.test.yml with each expected runbook_url written from the setting: `base#alert-x`,
 * or — for the sidecars' runbook — the page_url expected beside it (the same sidecar)
 * then `runbook#alert-x`; an alert about no project expects the first sidecar by
 * instance among the group's fdl_cloudauth_web_info series, or the placeholder.
 */
function rewriteAlertTests(text, base = runbookBase()) {
  const lines = text.split('\n');
  let alert = null;
  let groupSidecars = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^ {2}- name:/.test(line)) groupSidecars = [];
    const info = /series: '(fdl_cloudauth_web_info\{[^}]*\})'/.exec(line);
    if (info) {
      const labels = Object.fromEntries([...info[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      groupSidecars.push(labels);
    }
    const name = /^\s*alertname: (\S+)/.exec(line);
    if (name) alert = name[1];
    if (!/^\s*exp_annotations:\s*$/.test(line)) continue;
    const keyIndent = indentOf(line) + 2;
    let end = i + 1;
    while (end < lines.length && lines[end].trim() !== '' && indentOf(lines[end]) >= keyIndent) end++;
    const block = lines.slice(i + 1, end);
    const at = block.findIndex((l) => /^\s*runbook_url:/.test(l));
    if (at < 0) throw new Error(`alerts.test.yml: a case of ${alert} expects no runbook_url (line ${i + 1})`);
    let url;
    if (base) url = `${base}#${anchor(alert)}`;
    else {
      const page = block.find((l) => /^\s*page_url:/.test(l));
      if (page) url = `${unquote(page.replace(/^\s*page_url:/, ''))}runbook#${anchor(alert)}`;
      else {
        const first = [...groupSidecars].sort((a, b) => (a.instance < b.instance ? -1 : 1))[0];
        const sidecar = first ? first.external_url || `${first.scheme}://${first.instance}/` : '<any fdl-cloudauth sidecar>/';
        url = `${sidecar}runbook#${anchor(alert)}`;
      }
    }
    lines[i + 1 + at] = `${' '.repeat(keyIndent)}runbook_url: ${JSON.stringify(url)}`;
    i = end - 1;
  }
  return lines.join('\n');
}

const HEADER = `# Prometheus Operator objects for the sidecars of fdl-with-sidecar.yaml: a PodMonitor and
# a PrometheusRule. GENERATED by scripts/gen-k8s-monitoring.js from
# deploy/prometheus/alerts.yml (the one source of the rules): do not edit, regenerate.
#
#   kubectl create secret generic fdl-cloudauth-scrape --from-literal=username=prometheus --from-literal=password=...
#   kubectl apply -f monitoring.yaml
#
# The PodMonitor scrapes over HTTPS with basic auth (the user and password of the
# sidecars' web-config.yml, whose bcrypt hash is in the fdl-cloudauth-web Secret), and
# verifies the sidecars' certificate against tls.crt of that Secret under the name
# fdl-cloudauth: give the certificate that DNS name. The job is named fdl-cloudauth, as
# the SidecarDown alert expects. Use it instead of the prometheus.io annotations, not
# with them. Your Prometheus selects the objects by its podMonitorSelector and
# ruleSelector: add the labels it expects. The alerts' page_url and runbook_url follow
# the sidecars' TLS (https://) through their fdl_cloudauth_web_info series.
`;

function podMonitor() {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name: 'fdl-cloudauth', labels: LABELS },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'fdl' } },
      podMetricsEndpoints: [
        {
          port: 'cloudauth-metrics',
          path: '/metrics',
          interval: '30s',
          scrapeTimeout: '10s',
          scheme: 'https',
          tlsConfig: { ca: { secret: { name: 'fdl-cloudauth-web', key: 'tls.crt' } }, serverName: 'fdl-cloudauth' },
          basicAuth: { username: { name: 'fdl-cloudauth-scrape', key: 'username' }, password: { name: 'fdl-cloudauth-scrape', key: 'password' } },
          // The operator names a PodMonitor's job <namespace>/<name>; the alerts select job="fdl-cloudauth".
          relabelings: [{ action: 'replace', targetLabel: 'job', replacement: 'fdl-cloudauth' }],
        },
      ],
    },
  };
}

function prometheusRule(alertsText) {
  const alerts = parse(alertsText);
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'fdl-cloudauth', labels: LABELS },
    spec: { groups: alerts.groups },
  };
}

/** The text of monitoring.yaml for the given alerts.yml text (its links as the setting writes them). */
function render(alertsText = readFileSync(ALERTS, 'utf8'), base = runbookBase()) {
  const options = { lineWidth: 0 };
  return `${HEADER}---\n${stringify(podMonitor(), options)}---\n${stringify(prometheusRule(rewriteAlerts(alertsText, base)), options)}`;
}

module.exports = { render, rewriteAlerts, rewriteAlertTests, linkAnnotations, runbookBase, OUTPUT, ALERTS, ALERTS_TEST, RUNBOOK_URL_ENV };

if (require.main === module) {
  try {
    const base = runbookBase();
    const alerts = rewriteAlerts(readFileSync(ALERTS, 'utf8'), base);
    writeFileSync(ALERTS, alerts);
    writeFileSync(ALERTS_TEST, rewriteAlertTests(readFileSync(ALERTS_TEST, 'utf8'), base));
    writeFileSync(OUTPUT, render(alerts, base));
    const where = base || "the sidecars' /runbook";
    for (const file of [ALERTS, ALERTS_TEST, OUTPUT]) process.stdout.write(`wrote ${path.relative(ROOT, file)}\n`);
    process.stdout.write(`runbook links: ${where}\n`);
  } catch (error) {
    process.stderr.write(`gen-k8s-monitoring: ${error.message}\n`);
    process.exit(1);
  }
}
