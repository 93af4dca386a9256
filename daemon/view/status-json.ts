import type { Reason } from '../../shared/redis/records';
import type { ProjectView, UnknownWhy } from './compute-view';

/**
 * The JSON of SPEC §6, shared by `fdl-cloudauth status --json` and the daemon's
 * `GET /status`, so the two can never differ. Times are ISO 8601 UTC; field names
 * are public interface.
 */
export interface ReasonJson {
  code: number | null;
  name: string;
  message: string;
  at: string;
}

export interface NodeStatusJson {
  id: string;
  status: string;
  consecutiveFailures: number;
  reason: ReasonJson | null;
  latestReason: ReasonJson | null;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
}

export interface StatusJson {
  project: string;
  status: string;
  lockoutSeconds: number | null;
  policy: string;
  threshold: number;
  license: { expiresAt: string | null; capacity: number | null; bound: number | null };
  leader: { instance: string; epoch: number } | null;
  nodes: NodeStatusJson[];
  /** Members of the project whose record is missing or unreadable (R5): counted in the policy, never as failed. */
  unknownMembers: Array<{ id: string; why: UnknownWhy }>;
  /** Present when Redis lost its data and the nodes restored the project; says what is gone. */
  recovery: { at: string; restoredBy: Record<string, string[]>; lost: string } | null;
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function reasonJson(reason: Reason | null): ReasonJson | null {
  return reason === null ? null : { code: reason.code, name: reason.name, message: reason.message, at: new Date(reason.at).toISOString() };
}

export function buildStatusJson(view: ProjectView): StatusJson {
  return {
    project: view.project,
    status: view.status,
    lockoutSeconds: view.lockoutSeconds,
    policy: view.policy,
    threshold: view.threshold,
    license: { expiresAt: isoOrNull(view.license.expiresAt), capacity: view.license.capacity, bound: view.license.bound },
    leader: view.leader ? { instance: view.leader.instance, epoch: view.leader.epoch } : null,
    nodes: view.nodes.map((n) => ({
      id: n.id,
      status: n.status,
      consecutiveFailures: n.consecutiveFailures,
      reason: reasonJson(n.reason),
      latestReason: reasonJson(n.latestReason),
      lastAttemptAt: isoOrNull(n.lastAttemptAt),
      lastSuccessAt: isoOrNull(n.lastSuccessAt),
    })),
    unknownMembers: view.unknownMembers.map((m) => ({ id: m.id, why: m.why })),
    recovery: view.recovery
      ? {
          at: new Date(view.recovery.at).toISOString(),
          restoredBy: view.recovery.restoredBy,
          lost: recoveryLoss(view.recovery.at),
        }
      : null,
  };
}

/** What cannot come back after Redis lost its data, in plain words (status shows it). */
export function recoveryLoss(at: number): string {
  return (
    `Redis lost the project data before ${new Date(at).toISOString()}; the nodes restored the credential and their latest state, ` +
    'but the failure history and recorded attempt ids from before then are gone, and a node whose sidecar was down then is an unknown member until it reports again.'
  );
}
