/**
 * The names of the agent's schedule: its BullMQ queue and job scheduler, and a slot's
 * attempt id. The id is made from the slot (shared/heartbeat-grid.ts) — never read
 * from BullMQ's job id — so the agent's timer and BullMQ name a slot alike, and the
 * recording counts it once whoever made it.
 */
export const SCHEDULER_ID = 'heartbeat';

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
