/**
 * The metrics of SPEC section 8, the public interface that dashboards and alerts are
 * written against. Tests compare alerts.yml, the Grafana dashboard and what the
 * sidecar really exports with this one list, so a renamed metric breaks a test
 * instead of a dashboard at 3 a.m.
 */

export type SpecMetricType = 'gauge' | 'counter' | 'histogram';

export interface SpecMetric {
  readonly name: string;
  readonly type: SpecMetricType;
  readonly labels: readonly string[];
  /** Exported by every sidecar for itself; otherwise only by the project's leader. */
  readonly nodeLevel: boolean;
}

export const METRIC_PREFIX = 'fdl_cloudauth_';

export const SPEC_METRICS: readonly SpecMetric[] = Object.freeze([
  { name: 'fdl_cloudauth_project_status', type: 'gauge', labels: ['project', 'status'], nodeLevel: false },
  { name: 'fdl_cloudauth_node_status', type: 'gauge', labels: ['project', 'node', 'status'], nodeLevel: false },
  { name: 'fdl_cloudauth_node_consecutive_failures', type: 'gauge', labels: ['project', 'node'], nodeLevel: false },
  { name: 'fdl_cloudauth_node_failure_reason', type: 'gauge', labels: ['project', 'node', 'code', 'reason'], nodeLevel: false },
  { name: 'fdl_cloudauth_node_last_attempt_timestamp_seconds', type: 'gauge', labels: ['project', 'node'], nodeLevel: false },
  { name: 'fdl_cloudauth_node_last_success_timestamp_seconds', type: 'gauge', labels: ['project', 'node'], nodeLevel: false },
  { name: 'fdl_cloudauth_authentications_total', type: 'counter', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_authentication_failures_total', type: 'counter', labels: ['project', 'node', 'reason'], nodeLevel: true },
  { name: 'fdl_cloudauth_lockout_seconds', type: 'gauge', labels: ['project'], nodeLevel: false },
  { name: 'fdl_cloudauth_lockout_window_seconds', type: 'gauge', labels: ['project'], nodeLevel: false },
  { name: 'fdl_cloudauth_license_expiry_timestamp_seconds', type: 'gauge', labels: ['project'], nodeLevel: false },
  { name: 'fdl_cloudauth_license_slots', type: 'gauge', labels: ['project', 'account', 'kind'], nodeLevel: false },
  { name: 'fdl_cloudauth_capacity_refusals_total', type: 'counter', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_leader', type: 'gauge', labels: ['project', 'holder'], nodeLevel: true },
  { name: 'fdl_cloudauth_leader_transitions_total', type: 'counter', labels: ['project'], nodeLevel: false },
  { name: 'fdl_cloudauth_journal_pending', type: 'gauge', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_corrupt_records_total', type: 'counter', labels: ['project'], nodeLevel: false },
  { name: 'fdl_cloudauth_heartbeat_duration_seconds', type: 'histogram', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_redis_up', type: 'gauge', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_build_info', type: 'gauge', labels: ['version'], nodeLevel: true },
  { name: 'fdl_cloudauth_view_age_seconds', type: 'gauge', labels: ['project'], nodeLevel: false },
  { name: 'fdl_cloudauth_authserver_reachable', type: 'gauge', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_probe_duration_seconds', type: 'gauge', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_authserver_tls_expiry_timestamp_seconds', type: 'gauge', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_local_state_writable', type: 'gauge', labels: ['project', 'node'], nodeLevel: true },
  { name: 'fdl_cloudauth_local_state_write_errors_total', type: 'counter', labels: ['project', 'node', 'op'], nodeLevel: true },
  { name: 'fdl_cloudauth_results_lost_total', type: 'counter', labels: ['project', 'node', 'why'], nodeLevel: true },
  { name: 'fdl_cloudauth_web_info', type: 'gauge', labels: ['project', 'node', 'scheme', 'external_url'], nodeLevel: true },
] satisfies SpecMetric[]);

/**
 * prom-client's default process and Node.js series (SPEC §8: "exported too"), a few of
 * the ones every exporter's users chart — memory, file descriptors, start time, the
 * heap and the event loop — with their types. Not prefixed, so not in the list above.
 */
export const DEFAULT_PROCESS_METRICS: readonly string[] = Object.freeze([
  'process_cpu_seconds_total counter',
  'process_resident_memory_bytes gauge',
  'process_open_fds gauge',
  'process_max_fds gauge',
  'process_start_time_seconds gauge',
  'nodejs_heap_size_used_bytes gauge',
  'nodejs_eventloop_lag_p99_seconds gauge',
  'nodejs_version_info gauge',
]);

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/**
 * The SPEC metric a series name belongs to (`..._seconds_bucket` belongs to the
 * histogram `..._seconds`), or undefined when it is not a SPEC metric.
 */
export function specMetricOf(seriesName: string): SpecMetric | undefined {
  const exact = SPEC_METRICS.find((m) => m.name === seriesName);
  if (exact) return exact;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (!seriesName.endsWith(suffix)) continue;
    const base = seriesName.slice(0, -suffix.length);
    const metric = SPEC_METRICS.find((m) => m.name === base && m.type === 'histogram');
    if (metric) return metric;
  }
  return undefined;
}
