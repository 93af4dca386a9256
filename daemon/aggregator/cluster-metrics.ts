import type { Clock } from '../../shared/clock';
import { Counter, Gauge, type Registry } from 'prom-client';
import { NODE_STATUSES, PROJECT_STATUSES } from '../../shared/redis/records';
import type { ProjectView } from '../view/compute-view';
import type { Aggregator } from './aggregator';
import type { LeaderElection } from './leader-election';
import { label, MetricText } from './metric-text';

/**
 * The cluster-level series of SPEC §8, served from the leader's own view — the one
 * its status decisions are made from, kept current by change events and the periodic
 * sweep (Aggregator) — so metrics and the status the leader wrote can never disagree,
 * and a scrape costs no Redis round trip whatever the number of nodes.
 *
 * Only the leader exports them, so the cluster is counted once: a non-leader, or a
 * leader before its first view, exports none of them. Their text is rendered once per
 * view and reused by every scrape until the next view: prom-client's own rendering
 * (a label hash per series, set then serialized on every scrape) costs tens of
 * milliseconds at 1,000 nodes, which is what made scrapes slow, not Redis alone.
 * `view_age_seconds` is computed at each scrape: how long ago the view's read started.
 *
 * `leader` (about this sidecar, from every one) and `leader_transitions_total` (the
 * project's epoch, from the leader) stay prom-client metrics in the registry.
 */
export interface ClusterMetricsOptions {
  /** Metric name prefix; default `fdl_cloudauth_`. */
  prefix?: string;
  /**
   * The aggregator's clock (the daemon gives monotonicClock): it stamped the read of the
   * view, so the view's age is measured on it; the leader gauge's start-up guard too.
   */
  clock: Clock;
}

export class ClusterMetrics {
  private readonly prefix: string;
  private readonly project: string;
  private readonly clock: Clock;
  private rendered: { view: ProjectView; text: string } | undefined;

  constructor(
    registry: Registry,
    private readonly aggregator: Aggregator,
    private readonly election: LeaderElection,
    options: ClusterMetricsOptions,
  ) {
    this.prefix = options.prefix ?? 'fdl_cloudauth_';
    this.project = aggregator.reader.keys.project;
    this.clock = options.clock;
    const registers = [registry];
    const project = this.project;

    // A sidecar that is not the leader says 0 only once it has been a candidate for a
    // whole lease: before that it cannot know whether another sidecar leads (a leader
    // that crashed holds the lease until it expires), and a cluster whose followers are
    // scraped before its leader would put NoLeader in pending at every start. A sidecar
    // that wins at once says 1 at once.
    const candidateSince = this.clock.now();
    const leader: Gauge<string> = new Gauge({
      name: `${this.prefix}leader`,
      help: '1 while this sidecar is the aggregator leader of the project; 0 once it has been a candidate for a whole lease without leading (absent before).',
      // `holder`, not `instance`: a label named like a target label (instance, job) would be
      // renamed `exported_instance` by Prometheus (SPEC §8).
      labelNames: ['project', 'holder'],
      registers,
      collect: () => {
        leader.reset();
        if (election.isLeader) leader.set({ project, holder: election.instance }, 1);
        else if (this.clock.now() - candidateSince >= election.leaseMs) leader.set({ project, holder: election.instance }, 0);
      },
    });

    const transitions: Counter<string> = new Counter({
      name: `${this.prefix}leader_transitions_total`,
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

  /** The leader's current view; null on a non-leader or before its first view. */
  private currentView(): ProjectView | null {
    return this.election.isLeader ? this.aggregator.latestView : null;
  }

  /** Prometheus text of the cluster series (appended to the registry's): '' on a non-leader. */
  text(): string {
    const view = this.currentView();
    const readAt = this.aggregator.latestViewReadAt;
    if (!view || readAt === null) return '';
    if (this.rendered?.view !== view) this.rendered = { view, text: this.renderView(view) };
    const age = new MetricText(this.prefix, { project: this.project });
    age.family('view_age_seconds', 'gauge', "Age of the leader's view the cluster series come from (since its read started).");
    // On the aggregator's clock, which stamped the read.
    age.sample('view_age_seconds', {}, Math.max(0, (this.clock.now() - readAt) / 1000));
    return this.rendered.text + age.toString();
  }

  private renderView(view: ProjectView): string {
    const m = new MetricText(this.prefix, { project: this.project });
    // Each node's label once, not once per series of the node.
    const nodes = view.nodes.map((node) => ({ node, label: label('node', node.id) }));
    const statusLabels = NODE_STATUSES.map((status) => [status, label('status', status)] as const);

    m.family('project_status', 'gauge', 'Project registration status: 1 for the current status, 0 for the others.');
    for (const status of PROJECT_STATUSES) m.sample('project_status', { status }, status === view.status ? 1 : 0);

    m.family('node_status', 'gauge', 'Node status: 1 for the current status, 0 for the others.');
    for (const n of nodes) for (const [status, text] of statusLabels) m.rendered('node_status', `${n.label},${text}`, status === n.node.status ? 1 : 0);

    m.family(
      'node_consecutive_failures',
      'gauge',
      'Consecutive failed authentications of the node (0 after a success); a stale node keeps its last recorded streak.',
    );
    for (const n of nodes) m.rendered('node_consecutive_failures', n.label, n.node.consecutiveFailures);

    m.family('node_failure_reason', 'gauge', "Reason of the first failure of the node's current streak: 1 while the streak lasts.");
    for (const { node, label: nodeLabel } of nodes) {
      if (node.consecutiveFailures > 0 && node.reason) {
        m.rendered(
          'node_failure_reason',
          `${nodeLabel},${label('code', node.reason.code === null ? '' : String(node.reason.code))},${label('reason', node.reason.name)}`,
          1,
        );
      }
    }

    m.family('node_last_attempt_timestamp_seconds', 'gauge', "Time of the node's last recorded attempt (Redis time).");
    for (const n of nodes) if (n.node.lastAttemptAt !== null) m.rendered('node_last_attempt_timestamp_seconds', n.label, n.node.lastAttemptAt / 1000);

    m.family('node_last_success_timestamp_seconds', 'gauge', "Time of the node's last successful authentication (Redis time).");
    for (const n of nodes) if (n.node.lastSuccessAt !== null) m.rendered('node_last_success_timestamp_seconds', n.label, n.node.lastSuccessAt / 1000);

    m.family('lockout_seconds', 'gauge', 'Time left before the project is marked failed if every attempt fails from now.');
    if (view.lockoutSeconds !== null) m.sample('lockout_seconds', {}, view.lockoutSeconds);

    // The whole window from a first failure to lockout, so that an alert can size its
    // margin to it: a site with threshold 3 at 2 h has only 6 h in all.
    m.family(
      'lockout_window_seconds',
      'gauge',
      'Time from a first failure to Registration Failed when every attempt fails: heartbeat.failureThreshold x heartbeat.interval.',
    );
    m.sample('lockout_window_seconds', {}, (view.threshold * view.intervalMs) / 1000);

    m.family('license_expiry_timestamp_seconds', 'gauge', 'License expiry as the last successful authentication reported it.');
    if (view.license.expiresAt !== null) m.sample('license_expiry_timestamp_seconds', {}, view.license.expiresAt / 1000);

    // The account name is an identifier, not a secret (docs/security.md): it lets
    // Prometheus add one account's projects together across projects and Redis
    // instances (max by (account): every project reports the account's own figures).
    // Left out while no credential is stored (nothing to add up then).
    m.family('license_slots', 'gauge', 'Registration capacity of the account and the slots bound across its projects, from the last success.');
    const account: Record<string, string> = view.account !== null ? { account: view.account } : {};
    if (view.license.capacity !== null) m.sample('license_slots', { ...account, kind: 'capacity' }, view.license.capacity);
    if (view.license.bound !== null) m.sample('license_slots', { ...account, kind: 'bound' }, view.license.bound);

    // The project's count in Redis, to which every reader adds (leader, others, CLI).
    m.family('corrupt_records_total', 'counter', 'Records in Redis that did not parse (each distinct one counted once, whoever found it); skipped.');
    m.sample('corrupt_records_total', {}, view.corruptRecords);
    return m.toString();
  }
}
