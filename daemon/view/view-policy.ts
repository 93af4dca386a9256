import type { Config } from '../../shared/config/compile';
import type { ViewPolicy } from './compute-view';

/**
 * The rule's parameters as the configuration sets them: the one place that maps
 * `cluster.failurePolicy`, `heartbeat.failureThreshold` and `heartbeat.intervalMs` to
 * the view, so the sidecar, `status` and `crypto switch` judge a project alike.
 */
export function viewPolicy(config: Pick<Config, 'cluster' | 'heartbeat'>): ViewPolicy {
  return { failurePolicy: config.cluster.failurePolicy, threshold: config.heartbeat.failureThreshold, intervalMs: config.heartbeat.intervalMs };
}
