import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default process and Node.js series (`process_*`: CPU, resident memory,
 * open and maximum file descriptors, start time; `nodejs_*`: heap, event loop lag, GC,
 * version), which every Prometheus exporter's users expect (SPEC §8). They go into the
 * registry the sidecar serves, never prom-client's global one: each Daemon owns its
 * registry, so two sidecars in one process (the tests, the demo) each export a set and
 * neither registers a name twice. Unprefixed, as every Node.js exporter names them, so
 * the dashboards written for prom-client work unchanged. Their cost per scrape is
 * measured by `npm run bench` (footprint-bench, docs/benchmarks.md).
 */
/**
 * Gauges prom-client names with a `_total` suffix, which `promtool check metrics`
 * refuses for anything but a counter (SPEC §8: /metrics passes it). What they count is
 * still exported, by type: `nodejs_active_handles`, `nodejs_active_requests`,
 * `nodejs_active_resources`.
 */
const LINT_FAILING = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of LINT_FAILING) registry.removeSingleMetric(name);
}
