import { createHash } from 'node:crypto';

/**
 * The heartbeat grid of a node (SPEC R1): attempts at k × interval + offset, where the
 * offset is a stable hash of project and node id, so a project's nodes are spread over
 * the interval and a restart keeps its node on the same grid. BullMQ's job scheduler
 * runs on this grid (`every` + `offset`); the agent's own timer, used while Redis is
 * away, computes the same slots; the Registration page draws its timeline on it.
 */

export function stableOffset(project: string, nodeId: string, intervalMs: number): number {
  const digest = createHash('sha256').update(`${project}\u0000${nodeId}`).digest();
  // 1..interval-1: BullMQ treats 0 as "no offset".
  return 1 + (digest.readUInt32BE(0) % Math.max(1, intervalMs - 1));
}

/** The first slot strictly after `now`. */
export function nextSlot(now: number, intervalMs: number, offsetMs: number): number {
  const slot = slotAtOrBefore(now, intervalMs, offsetMs);
  return slot <= now ? slot + intervalMs : slot;
}

/** The last slot at or before `at`: `at` itself when it lies on the grid. */
export function slotAtOrBefore(at: number, intervalMs: number, offsetMs: number): number {
  return Math.floor((at - offsetMs) / intervalMs) * intervalMs + offsetMs;
}
