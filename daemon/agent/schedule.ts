import { createHash } from 'node:crypto';

/**
 * The heartbeat grid of a node (SPEC R1): attempts at k × interval + offset, where the
 * offset is a stable hash of project and node id, so a project's nodes are spread over
 * the interval and a restart keeps its node on the same grid. BullMQ's job scheduler
 * runs on this grid (`every` + `offset`); the agent's own timer, used while Redis is
 * away, computes the same slots. A scheduled attempt's id is made here from its slot —
 * never read from BullMQ's job id — so the timer and BullMQ name a slot alike, and the
 * recording counts it once whoever made it.
 */
export const SCHEDULER_ID = 'heartbeat';

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

export function slotAttemptId(slot: number): string {
  return `slot:${slot}`;
}

/**
 * Release 0.1.0 named a slot's attempt after BullMQ's job id,
 * `repeat:heartbeat:<ms>`. Attempt ids recorded (and journaled) under that name stay
 * in Redis for the 30-day idempotency horizon, so a slot is looked up under both names
 * until then: a slot recorded by the old release just before an upgrade, and re-run by
 * the new one (a BullMQ retry, a stalled job, a replica still on the old release), is
 * counted once.
 */
export function legacySlotAttemptId(slot: number): string {
  return `repeat:${SCHEDULER_ID}:${slot}`;
}

/** The slot of one of the agent's own scheduled attempt ids (either name), or null (catch-up, after register). */
export function slotOfAttemptId(attemptId: string): number | null {
  const match = /^(?:slot|repeat:heartbeat):(\d+)$/.exec(attemptId);
  return match ? Number(match[1]) : null;
}

/** Every name an attempt id may have been recorded under: itself, and its other name for a slot. */
export function attemptIdAliases(attemptId: string): string[] {
  const slot = slotOfAttemptId(attemptId);
  if (slot === null) return [attemptId];
  return attemptId.startsWith('slot:') ? [attemptId, legacySlotAttemptId(slot)] : [attemptId, slotAttemptId(slot)];
}

export function queueName(nodeId: string): string {
  return `node-${nodeId}`;
}
