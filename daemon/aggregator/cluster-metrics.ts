import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../shared/logger';
import { NODE_STATUSES, PROJECT_STATUSES } from '../../shared/redis/records';
import type { ProjectView } from '../view/compute-view';
import type { Aggregator } from './aggregator';
import type { LeaderElection } from './leader-election';

/**
 * The cluster-level series of SPEC §8, computed at scrape time from a fresh read of
 * the cluster (one constant-round-trip read a scrape, shared by every metric) — and
 * only on the leader, so the cluster is counted once: a non-leader exports none of
 * them, not even zeros. Every collect() starts with reset(), so the series of a
 * removed node disappear, and a failed read leaves the cluster series out instead of
 * failing the scrape. `leader` is about this sidecar and is exported by every one;
 * `leader_transitions_total` is the project's epoch, exported by the leader.
 */
export interface ClusterMetricsOptions {
  log: Logger;
  /** Metric name prefix; default `fdl_cloudauth_`. */
  prefix?: string;
  /** How long one read serves the collects of one scrape; default 1 s. */
  readCacheMs?: number;
  /** Monotonic milliseconds, injectable for tests; default performance.now(). */
  monotonic?: () => number;
}

export function registerClusterMetrics(registry: Registry, aggregator: Aggregator, election: LeaderElection, options: ClusterMetricsOptions): void {
  const prefix = options.prefix ?? 'fdl_cloudauth_';
  const cacheMs = options.readCacheMs ?? 1000;
  const monotonic = options.monotonic ?? ((): number => performance.now());
  const log = options.log.child({ part: 'cluster-metrics' });
  const reader = aggregator.reader;
  const project = reader.keys.project;
  const registers = [registry];

  let cached: { at: number; view: Promise<ProjectView | null> } | undefined;
  let readFailing = false;
  const currentView = (): Promise<ProjectView | null> => {
    if (!election.isLeader) return Promise.resolve(null);
    const now = performance.now();
    if (cached && now - cached.at < cacheMs) return cached.view;
    const view = reader.read().then(
      (v) => {
        if (readFailing) log.info('Cluster read for metrics works again');
        readFailing = false;
        return v;
      },
      (error: unknown) => {
        // Logged once per outage, not once per metric and scrape.
        if (!readFailing) log.warn({ error: (error as Error).message }, 'Could not read the cluster for metrics; cluster series left out');
        readFailing = true;
        return null;
      },
    );
    cached = { at: now, view };
    return view;
  };

  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge<string>, view: ProjectView) => void): void => {
    const g: Gauge<string> = new Gauge({
      name: prefix + name,
      help,
      labelNames,
      registers,
      collect: async () => {
        g.reset();
        const view = await currentView();
        if (view) fill(g, view);
      },
    });
  };

  gauge('project_status', 'Project registration status: 1 for the current status, 0 for the others.', ['project', 'status'], (g, view) => {
    for (const status of PROJECT_STATUSES) g.set({ project, status }, status === view.status ? 1 : 0);
  });
  gauge('node_status', 'Node status: 1 for the current status, 0 for the others.', ['project', 'node', 'status'], (g, view) => {
    for (const node of view.nodes) for (const status of NODE_STATUSES) g.set({ project, node: node.id, status }, status === node.status ? 1 : 0);
  });
  gauge('node_consecutive_failures', 'Consecutive failed authentications of the node (0 after a success).', ['project', 'node'], (g, view) => {
    for (const node of view.nodes) g.set({ project, node: node.id }, node.consecutiveFailures);
  });
  gauge('node_failure_reason', 'Reason of the first failure of the node\'s current streak: 1 while the streak lasts.', ['project', 'node', 'code', 'reason'], (g, view) => {
    for (const node of view.nodes) {
      if (node.consecutiveFailures > 0 && node.reason) {
        g.set({ project, node: node.id, code: node.reason.code === null ? '' : String(node.reason.code), reason: node.reason.name }, 1);
      }
    }
  });
  gauge('node_last_attempt_timestamp_seconds', 'Time of the node\'s last recorded attempt (Redis time).', ['project', 'node'], (g, view) => {
    for (const node of view.nodes) if (node.lastAttemptAt !== null) g.set({ project, node: node.id }, node.lastAttemptAt / 1000);
  });
  gauge('node_last_success_timestamp_seconds', 'Time of the node\'s last successful authentication (Redis time).', ['project', 'node'], (g, view) => {
    for (const node of view.nodes) if (node.lastSuccessAt !== null) g.set({ project, node: node.id }, node.lastSuccessAt / 1000);
  });
  gauge('lockout_seconds', 'Time left before the project is marked failed if every attempt fails from now.', ['project'], (g, view) => {
    if (view.lockoutSeconds !== null) g.set({ project }, view.lockoutSeconds);
  });
  // The whole window from a first failure to lockout, so that an alert can size its
  // margin to it: a site with threshold 3 at 2 h has only 6 h in all.
  gauge('lockout_window_seconds', 'Time from a first failure to Registration Failed when every attempt fails: heartbeat.failureThreshold x heartbeat.interval.', ['project'], (g, view) => {
    g.set({ project }, (view.threshold * view.intervalMs) / 1000);
  });
  gauge('license_expiry_timestamp_seconds', 'License expiry as the last successful authentication reported it.', ['project'], (g, view) => {
    if (view.license.expiresAt !== null) g.set({ project }, view.license.expiresAt / 1000);
  });
  gauge('license_slots', 'Registration capacity of the account and the slots bound, from the last success.', ['project', 'kind'], (g, view) => {
    if (view.license.capacity !== null) g.set({ project, kind: 'capacity' }, view.license.capacity);
    if (view.license.bound !== null) g.set({ project, kind: 'bound' }, view.license.bound);
  });

  const corrupt: Counter<string> = new Counter({
    name: `${prefix}corrupt_records_total`,
    help: 'Records in Redis that did not parse (each distinct one counted once, whoever found it); skipped.',
    labelNames: ['project'],
    registers,
    collect: async () => {
      corrupt.reset();
      // The project's count in Redis, to which every reader adds (leader, others, CLI).
      const view = await currentView();
      if (view !== null) corrupt.inc({ project }, view.corruptRecords);
    },
  });

  // A sidecar that is not the leader says 0 only once it has been a candidate for a
  // whole lease: before that it cannot know whether another sidecar leads (a leader
  // that crashed holds the lease until it expires), and a cluster whose followers are
  // scraped before its leader would put NoLeader in pending at every start. A sidecar
  // that wins at once says 1 at once.
  const candidateSince = monotonic();
  const leader: Gauge<string> = new Gauge({
    name: `${prefix}leader`,
    help: '1 while this sidecar is the aggregator leader of the project; 0 once it has been a candidate for a whole lease without leading (absent before).',
    labelNames: ['project', 'instance'],
    registers,
    collect: () => {
      leader.reset();
      if (election.isLeader) leader.set({ project, instance: election.instance }, 1);
      else if (monotonic() - candidateSince >= election.leaseMs) leader.set({ project, instance: election.instance }, 0);
    },
  });

  const transitions: Counter<string> = new Counter({
    name: `${prefix}leader_transitions_total`,
    help: 'Leaderships taken in the project (the fencing epoch: every lease taken increments it); from the leader only.',
    labelNames: ['project'],
    registers,
    collect: () => {
      // Cluster-level (SPEC §8): one count for the project, so only the leader exports
      // it, and it is the epoch that every sidecar agrees on, not a per-process tally.
      transitions.reset();
      const epoch = election.epoch;
      if (election.isLeader && epoch !== null && epoch > 0) transitions.inc({ project }, epoch);
    },
  });
}
