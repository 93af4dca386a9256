import { Gauge, type Registry } from 'prom-client';

/**
 * `fdl_cloudauth_web_info`: how people reach this sidecar's web pages, for the alerts'
 * links (page_url, runbook_url in deploy/prometheus/alerts.yml). Prometheus knows the
 * address it scrapes (the target's `instance`) but not the scheme, and the address
 * people open may differ (a proxy, a DNS name): the sidecar says both — `scheme`
 * (https when its web configuration has TLS, which is fixed at start) and
 * `external_url` (http.externalUrl, empty when not set). An alert links to
 * `external_url`, else to `scheme://instance/`.
 */
export interface WebInfo {
  readonly scheme: 'http' | 'https';
  /** http.externalUrl: '' or an absolute URL ending in `/`. */
  readonly externalUrl: string;
}

export function registerWebInfoMetric(registry: Registry, project: string, node: string, info: WebInfo): void {
  const gauge = new Gauge({
    name: 'fdl_cloudauth_web_info',
    help: "How people reach this sidecar's pages, for the alerts' links: scheme of its endpoints and http.externalUrl (empty when not set); always 1.",
    labelNames: ['project', 'node', 'scheme', 'external_url'],
    registers: [registry],
  });
  gauge.set({ project, node, scheme: info.scheme, external_url: info.externalUrl }, 1);
}
