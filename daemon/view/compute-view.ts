import type { NodeRecord, NodeStatus, ProjectStatus, Reason } from '../../shared/redis/records';

/**
 * The rules of SPEC R3, R5 and R6 as pure functions of one snapshot of the cluster,
 * so they are unit-tested without Redis and the aggregator, the metrics and the CLI
 * all apply exactly the same rules. `now` is Redis time (R8), passed in, never read
 * from the local clock here.
 *
 * Decisions where the SPEC is silent (documented in the README's status section):
 * - A node is `failed` once its streak reaches the threshold even when it has gone
 *   quiet: a failed node stops authenticating, so its silence is expected, not stale.
 * - While the project is `failed` (sticky), every node stops authenticating; nodes
 *   are then not marked stale either, for the same reason.
 * - Nothing unknown ever produces `failed` (R5, R6). A stale node keeps its last
 *   recorded streak: it counts as failed only when that streak already reached the
 *   threshold (then it is `failed`, not `stale`), and it keeps the project `degraded`
 *   while its streak is ≥ 1. `all` and `majority` count every node of the project —
 *   stale ones and ones that have not attempted under this registration included —
 *   so a maintenance window on two sidecars cannot turn one failed node into a
 *   failed project.
 * - The lockout forecast takes every node at its worst case: an attempted node
 *   (stale or not) fails at lastAttemptAt + (threshold − streak) × interval, a node
 *   that has not attempted under this registration at now + (threshold − 1) ×
 *   interval (its first attempt would be at once, R1). A stale node far overdue
 *   therefore brings the forecast to 0: on-call is warned before it comes back and
 *   its catch-up attempt fails the project.
 * - A member of the project (in its nodes set) whose record is missing (Redis lost it
 *   while the member's sidecar was down) or unreadable (corrupt, a key of the wrong
 *   type) is an *unknown member* (R5): counted in the policy's denominator, never as
 *   failed, and in the lockout forecast as a node that has not attempted under this
 *   registration (its catch-up attempt would be at once). It is listed apart from the
 *   nodes, whose statuses are what their records say.
 * - A project with a credential but no node that ever attempted is `unregistered`
 *   (nothing has authenticated yet); its lockoutSeconds is null, as for a project
 *   without a credential.
 */

export type FailurePolicy = 'any' | 'all' | 'majority';

export interface ViewPolicy {
  readonly failurePolicy: FailurePolicy;
  /** heartbeat.failureThreshold */
  readonly threshold: number;
  /** heartbeat.intervalMs */
  readonly intervalMs: number;
}

/** The status hash as the leader wrote it (or register cleared it). */
export interface StoredStatus {
  status: ProjectStatus | null;
  since: number | null;
  epoch: number | null;
  failedAt: number | null;
  generation: number | null;
  /** The registration the status is about; null for a status written before 0.2.0 (about any). */
  registration: string | null;
}

export interface LeaderInfo {
  instance: string;
  epoch: number;
}

/** A member of the project whose record cannot be read: why. */
export type UnknownWhy = 'missing' | 'unreadable';

export interface UnknownMember {
  id: string;
  why: UnknownWhy;
}

/** Everything read from Redis in one constant-round-trip read. */
export interface ClusterSnapshot {
  project: string;
  /** Redis TIME, ms. */
  now: number;
  nodes: NodeRecord[];
  /** Members whose record is missing or unreadable (R5): counted, never as failed. */
  unknown?: UnknownMember[];
  /** The credential's public part: never the ciphertext. Null when not registered. */
  credential: { account: string; generation: number; registration: string } | null;
  stored: StoredStatus | null;
  leader: LeaderInfo | null;
  /** Set when nodes restored the project after Redis lost its data. */
  recovery?: RecoveryInfo | null;
  /** Corrupt records found by every reader of the project (counters.corruptRecords). */
  corruptRecords?: number;
}

export interface RecoveryInfo {
  /** ms of the first restoration after the loss. */
  at: number;
  /** What each node restored ('credential', 'node'). */
  restoredBy: Record<string, string[]>;
}

export interface NodeView {
  id: string;
  status: NodeStatus;
  consecutiveFailures: number;
  reason: Reason | null;
  latestReason: Reason | null;
  lastAttemptAt: number | null;
  lastSuccessAt: number | null;
  /** When this node reaches the threshold if every attempt fails from now (ms); null when it cannot. */
  failsAt: number | null;
}

export interface LicenseView {
  expiresAt: number | null;
  capacity: number | null;
  bound: number | null;
}

export interface ProjectView {
  project: string;
  now: number;
  /** What the project status is, sticky `failed` included. */
  status: ProjectStatus;
  /** What the nodes alone say now, ignoring the stored sticky status: what the leader wants to write. */
  computedStatus: ProjectStatus;
  stored: StoredStatus | null;
  lockoutSeconds: number | null;
  policy: FailurePolicy;
  threshold: number;
  intervalMs: number;
  license: LicenseView;
  leader: LeaderInfo | null;
  account: string | null;
  /** Credential generation the view was computed from (0 without a credential), for people. */
  generation: number;
  /** The registration the view was computed from (null without a credential): what a status written from it is about. */
  registration: string | null;
  nodes: NodeView[];
  /** Members whose record is missing or unreadable, sorted by id. */
  unknownMembers: UnknownMember[];
  recovery: RecoveryInfo | null;
  /** Corrupt records found by every reader of the project. */
  corruptRecords: number;
}

/** R6: no recorded attempt for 1.5 × interval. */
export const STALE_FACTOR = 1.5;

export function isStale(lastAttemptAt: number, now: number, intervalMs: number): boolean {
  return now - lastAttemptAt > STALE_FACTOR * intervalMs;
}

export interface NodeStatusContext {
  now: number;
  policy: ViewPolicy;
  registered: boolean;
  /** The stored project status is failed: nodes stopped authenticating on purpose. */
  projectFailed: boolean;
  /**
   * The current registration's identity: a node whose record is of another one has not
   * yet authenticated under it, whatever its old streak said (never a generation
   * number: an emptied Redis numbers them from 1 again).
   */
  registration?: string;
}

export function computeNodeStatus(record: NodeRecord, ctx: NodeStatusContext): NodeStatus {
  if (!ctx.registered || record.lastAttemptAt === null) return 'unregistered';
  if (ctx.registration !== undefined && record.registration !== ctx.registration) return 'unregistered';
  if (record.consecutiveFailures >= ctx.policy.threshold) return 'failed';
  if (!ctx.projectFailed && isStale(record.lastAttemptAt, ctx.now, ctx.policy.intervalMs)) return 'stale';
  return record.consecutiveFailures > 0 ? 'degraded' : 'ok';
}

/** A node that has authenticated (or tried) under the current registration. */
function hasAttempted(node: NodeView): boolean {
  return node.status !== 'unregistered';
}

/** How many failed nodes fail the project, out of the project's `total` nodes. */
export function failedNodesNeeded(policy: FailurePolicy, total: number): number {
  switch (policy) {
    case 'any':
      return 1;
    case 'all':
      return Math.max(total, 1);
    case 'majority':
      return Math.floor(total / 2) + 1;
  }
}

/**
 * The project status the nodes say, without the sticky stored status. Every member of
 * the project is counted — `unknown` members (record missing or unreadable) too —
 * and only a recorded streak at the threshold is a failure.
 */
export function computeProjectStatus(nodes: readonly NodeView[], policy: FailurePolicy, registered: boolean, unknown = 0): ProjectStatus {
  if (!registered) return 'unregistered';
  // Nothing has authenticated under this registration yet.
  if (!nodes.some(hasAttempted)) return 'unregistered';
  const failed = nodes.filter((n) => n.status === 'failed').length;
  if (failed >= failedNodesNeeded(policy, nodes.length + unknown)) return 'failed';
  // Stale nodes included: a failing node that went quiet is still failing as far as anyone knows.
  return nodes.some((n) => hasAttempted(n) && n.consecutiveFailures > 0) ? 'degraded' : 'registered';
}

/**
 * When the node is failed if every attempt fails from now: its k-th remaining attempt
 * is due at lastAttemptAt + k × interval, so the threshold is reached at
 * lastAttemptAt + (threshold − consecutiveFailures) × interval. For a stale node that
 * is its worst case (R6): the attempts it missed are counted as failed.
 */
export function nodeFailsAt(record: NodeRecord, policy: ViewPolicy): number | null {
  if (record.lastAttemptAt === null) return null;
  const remaining = Math.max(0, policy.threshold - record.consecutiveFailures);
  return record.lastAttemptAt + remaining * policy.intervalMs;
}

/** A node that has not attempted under this registration: its first attempt is due at once. */
export function unattemptedFailsAt(now: number, policy: ViewPolicy): number {
  return now + Math.max(0, policy.threshold - 1) * policy.intervalMs;
}

/**
 * Seconds left before the project would be marked failed if every attempt fails from
 * now: the order statistic of the nodes' failure instants that the policy needs (the
 * earliest for `any`, the latest for `all`, the (⌊n/2⌋+1)-th for `majority`), every
 * node of the project at its worst case. 0 when failed, null when nothing is
 * registered. `unknownFailsAt` are the instants of the unknown members.
 */
export function computeLockoutSeconds(
  nodes: readonly NodeView[],
  policy: FailurePolicy,
  status: ProjectStatus,
  now: number,
  unknownFailsAt: readonly number[] = [],
): number | null {
  if (status === 'failed') return 0;
  if (status === 'unregistered') return null;
  const instants = [...nodes.map((n) => n.failsAt), ...unknownFailsAt].filter((t): t is number => t !== null).sort((a, b) => a - b);
  if (instants.length === 0) return null;
  const needed = failedNodesNeeded(policy, instants.length);
  const at = instants[Math.min(needed, instants.length) - 1] as number;
  return Math.max(0, Math.floor((at - now) / 1000));
}

/**
 * What the account's slots leave room for, on the figures of the latest success (the
 * server counts capacity and bound across all the account's projects): `full` — a new
 * or moved node is refused with 30007; `no-spare` — no slot for a migration, which
 * binds the new server while the old one keeps its slot (capacity above 1; an account
 * of one slot never has one to spare); `spare`; `unknown` before any success. The
 * same conditions as the alerts CapacityExhausted and CapacityLow.
 */
export type SlotRoom = 'unknown' | 'spare' | 'no-spare' | 'full';

export function slotRoom(license: Pick<LicenseView, 'capacity' | 'bound'>): SlotRoom {
  const { capacity, bound } = license;
  if (capacity === null || bound === null || capacity <= 0) return 'unknown';
  if (bound >= capacity) return 'full';
  if (capacity > 1 && bound >= capacity - 1) return 'no-spare';
  return 'spare';
}

/** The license as the node with the latest success saw it. */
export function latestLicense(records: readonly NodeRecord[]): LicenseView {
  let best: NodeRecord | undefined;
  for (const r of records) {
    if (r.lastSuccessAt === null) continue;
    if (!best || (best.lastSuccessAt ?? 0) < r.lastSuccessAt) best = r;
  }
  return best ? { ...best.license } : { expiresAt: null, capacity: null, bound: null };
}

/** The stored status is a `failed` verdict about this registration (a verdict applies only to its own registration). */
export function storedFailed(stored: StoredStatus | null, registration: string | undefined): boolean {
  return stored?.status === 'failed' && (stored.registration === null || registration === undefined || stored.registration === registration);
}

export function computeView(snapshot: ClusterSnapshot, policy: ViewPolicy): ProjectView {
  const registered = snapshot.credential !== null;
  const projectFailed = storedFailed(snapshot.stored, snapshot.credential?.registration);
  const ctx: NodeStatusContext = { now: snapshot.now, policy, registered, projectFailed, registration: snapshot.credential?.registration };
  const nodes: NodeView[] = [...snapshot.nodes]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((record) => {
      const status = computeNodeStatus(record, ctx);
      return {
        id: record.id,
        status,
        consecutiveFailures: record.consecutiveFailures,
        reason: record.consecutiveFailures > 0 ? record.reason : null,
        latestReason: record.consecutiveFailures > 0 ? record.latestReason : null,
        lastAttemptAt: record.lastAttemptAt,
        lastSuccessAt: record.lastSuccessAt,
        failsAt: status === 'unregistered' ? unattemptedFailsAt(snapshot.now, policy) : nodeFailsAt(record, policy),
      };
    });
  const known = new Set(nodes.map((n) => n.id));
  const unknownMembers = [...new Map((snapshot.unknown ?? []).filter((u) => !known.has(u.id)).map((u) => [u.id, u])).values()].sort((a, b) =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  );
  const computedStatus = computeProjectStatus(nodes, policy.failurePolicy, registered, unknownMembers.length);
  // Sticky: a stored `failed` wins over anything the nodes say until register clears it.
  const status: ProjectStatus = registered && projectFailed ? 'failed' : computedStatus;
  return {
    project: snapshot.project,
    now: snapshot.now,
    status,
    computedStatus,
    stored: snapshot.stored,
    lockoutSeconds: computeLockoutSeconds(
      nodes,
      policy.failurePolicy,
      status,
      snapshot.now,
      unknownMembers.map(() => unattemptedFailsAt(snapshot.now, policy)),
    ),
    policy: policy.failurePolicy,
    threshold: policy.threshold,
    intervalMs: policy.intervalMs,
    license: latestLicense(snapshot.nodes),
    leader: snapshot.leader,
    account: snapshot.credential?.account ?? null,
    generation: snapshot.credential?.generation ?? 0,
    registration: snapshot.credential?.registration ?? null,
    nodes,
    unknownMembers,
    recovery: snapshot.recovery ?? null,
    corruptRecords: snapshot.corruptRecords ?? 0,
  };
}
