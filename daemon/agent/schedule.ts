import { createHash } from 'node:crypto';

/**
 * The heartbeat grid of a node (SPEC R1): attempts at k × interval + offset, where the
 * offset is a stable hash of project and node id, so a project's nodes are spread over
 * the interval and a restart keeps its node on the same grid. BullMQ's job scheduler
 * runs on this grid (`every` + `offset`) and names each run `repeat:<scheduler>:<slot>`;
 * the agent's own timer, used while Redis is away, computes the same slots and the same
 * ids, so a slot attempted from the journal and by BullMQ is one attempt.
 */
export const SCHEDULER_ID = 'heartbeat';

export function stableOffset(project: string, nodeId: string, intervalMs: number): number {
  const digest = createHash('sha256').update(`${project}\u0000${nodeId}`).digest();
  // 1..interval-1: BullMQ treats 0 as "no offset".
  return 1 + (digest.readUInt32BE(0) % Math.max(1, intervalMs - 1));
}

/** The first slot strictly after `now`. */
export function nextSlot(now: number, intervalMs: number, offsetMs: number): number {
  let slot = Math.floor(now / intervalMs) * intervalMs + offsetMs;
  if (slot <= now) slot += intervalMs;
  return slot;
}

export function slotAttemptId(slot: number): string {
  return `repeat:${SCHEDULER_ID}:${slot}`;
}

/** The slot of a scheduled attempt id, or null for other attempts (catch-up, after register). */
export function slotOf(attemptId: string): number | null {
  const match = /^repeat:[^:]+:(\d+)$/.exec(attemptId);
  return match ? Number(match[1]) : null;
}

export function queueName(nodeId: string): string {
  return `node-${nodeId}`;
}
