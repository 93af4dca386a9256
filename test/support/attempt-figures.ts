import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { slotOfAttemptId } from '../../daemon/agent/schedule';
import { waitFor } from '../../harness/wait';
import { onePerAttempt, type Sidecar } from '../../harness/sidecar';

/**
 * The figures the reliability tests print: for each node, the attempts its sidecar
 * made (every attempt id it logged an outcome for), the attempts Redis recorded (the
 * node's idempotency set), what was lost (made, not recorded), what was counted twice
 * (attemptsTotal above the number of distinct recorded ids), and gaps in the slot
 * grid. Lines are printed as `figures <label> key=value ...` so they can be copied
 * into docs/reliability.md.
 */
export interface NodeFigures {
  node: string;
  made: number;
  recorded: number;
  lost: string[];
  /** Recorded by the count (attemptsTotal) more often than by distinct id. */
  duplicated: number;
  /** Attempt ids the sidecar authenticated more than once (each still recorded once). */
  repeated: string[];
  /** Missing slots of the grid between the first and last recorded slot. */
  missedSlots: number[];
  /** Attempts made while Redis was away (written to the journal, replayed later). */
  journaled: number;
}

interface LogLine {
  msg?: string;
  attemptId?: string;
  where?: string;
}

/** Attempt ids the sidecar logged an outcome for, with how many times. */
export function attemptsMade(output: string): Map<string, number> {
  return scanOutcomes(output).made;
}

/**
 * Waits until every sidecar has logged the outcome of `more` attempts beyond those it
 * had logged when called: "a few more heartbeats" as events, which a loaded machine
 * only delays (a sleep of a few intervals may hold none).
 */
export async function waitForMoreAttempts(sidecars: readonly Sidecar[], more: number, timeoutMs = 30_000): Promise<void> {
  const base = new Map(sidecars.map((s) => [s, attemptsMade(s.output()).size]));
  await waitFor(`${more} more attempts on every node`, () => sidecars.every((s) => attemptsMade(s.output()).size >= (base.get(s) ?? 0) + more), timeoutMs, 200);
}

function scanOutcomes(output: string): { made: Map<string, number>; journaled: number } {
  const made = new Map<string, number>();
  let journaled = 0;
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: LogLine;
    try {
      entry = JSON.parse(line) as LogLine;
    } catch {
      continue;
    }
    if ((entry.msg === 'Authenticated' || entry.msg === 'Authentication failed') && entry.attemptId) {
      made.set(entry.attemptId, (made.get(entry.attemptId) ?? 0) + 1);
      if (entry.where === 'journal') journaled += 1;
    }
  }
  return { made, journaled };
}

export async function nodeFigures(redis: RedisClient, keys: ProjectKeys, sidecar: Sidecar, intervalMs: number): Promise<NodeFigures> {
  const { made, journaled } = scanOutcomes(sidecar.output());
  // One id per attempt: a slot is also recorded under 0.1.0's name (record-attempt-7.lua).
  const recorded = onePerAttempt(await redis.zrange(keys.attempts(sidecar.nodeId), '0', '-1'));
  const total = Number((await redis.hget(keys.node(sidecar.nodeId), 'attemptsTotal')) ?? 0);
  const recordedSet = new Set(recorded);
  const slots = recorded
    .map(slotOfAttemptId)
    .filter((s): s is number => s !== null)
    .sort((a, b) => a - b);
  const missedSlots: number[] = [];
  for (let i = 1; i < slots.length; i++) {
    for (let slot = (slots[i - 1] as number) + intervalMs; slot < (slots[i] as number); slot += intervalMs) missedSlots.push(slot);
  }
  return {
    node: sidecar.nodeId,
    made: made.size,
    recorded: recorded.length,
    lost: [...made.keys()].filter((id) => !recordedSet.has(id)),
    duplicated: total - recorded.length,
    repeated: [...made].filter(([, n]) => n > 1).map(([id]) => id),
    missedSlots,
    journaled,
  };
}

export function printFigures(label: string, figures: NodeFigures[], extra: Record<string, string | number> = {}): void {
  const sum = (f: (n: NodeFigures) => number) => figures.reduce((a, n) => a + f(n), 0);
  const fields: Record<string, string | number> = {
    made: sum((n) => n.made),
    recorded: sum((n) => n.recorded),
    lost: sum((n) => n.lost.length),
    duplicated: sum((n) => n.duplicated),
    repeatedAuthentications: sum((n) => n.repeated.length),
    missedSlots: sum((n) => n.missedSlots.length),
    journaled: sum((n) => n.journaled),
    ...extra,
  };
  const lines = [
    `figures ${label} ${Object.entries(fields)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  ];
  for (const n of figures) {
    lines.push(
      `  node ${n.node}: made=${n.made} recorded=${n.recorded} lost=${n.lost.length}${n.lost.length ? ` [${n.lost.join(', ')}]` : ''} duplicated=${n.duplicated} repeated=${n.repeated.length} missedSlots=${n.missedSlots.length} journaled=${n.journaled}`,
    );
  }
  console.log(lines.join('\n'));
}
