import { stableOffset } from '../../shared/heartbeat-grid';
import type { FailureEntry } from '../../shared/redis/records';

/**
 * The 24-hour timeline of one node: one cell per heartbeat slot on the node's own grid
 * (k × interval + its stable offset, SPEC R1), so a cell starts when its scheduled
 * attempt is due. A cell is a failure when any attempt in it failed (the codes kept for
 * the hover text), a success when attempts were recorded and none failed, and "none"
 * when nothing was recorded — the sidecar was down, or the project had failed.
 *
 * Short intervals (demos, tests) would give thousands of cells; past MAX_CELLS a cell
 * spans several slots, so the page stays small whatever the interval.
 */
export const TIMELINE_SPAN_MS = 24 * 3_600_000;
export const MAX_CELLS = 48;

export type CellState = 'ok' | 'fail' | 'none';

export interface TimelineCell {
  start: number;
  state: CellState;
  attempts: number;
  /** Distinct reasons of the failures in the cell ("30003 LICENSE_IP_ERROR"), in time order. */
  reasons: string[];
}

export interface NodeTimeline {
  node: string;
  cellMs: number;
  cells: TimelineCell[];
}

/** A recorded attempt: its id and its time (the attempts sorted set). */
export type RecordedAttempt = readonly [id: string, at: number];

export function cellSpan(intervalMs: number): number {
  return intervalMs * Math.max(1, Math.ceil(TIMELINE_SPAN_MS / intervalMs / MAX_CELLS));
}

function reasonLabel(f: Pick<FailureEntry, 'code' | 'name'>): string {
  return f.code === null ? f.name : `${f.code} ${f.name}`;
}

export function buildTimeline(
  project: string,
  node: string,
  intervalMs: number,
  now: number,
  attempts: readonly RecordedAttempt[],
  failures: readonly FailureEntry[],
): NodeTimeline {
  const cellMs = cellSpan(intervalMs);
  const offset = stableOffset(project, node, intervalMs) % cellMs;
  const count = Math.max(1, Math.ceil(TIMELINE_SPAN_MS / cellMs));
  // The cell holding `now` is the last one; the first starts count − 1 cells before it.
  const lastStart = Math.floor((now - offset) / cellMs) * cellMs + offset;
  const firstStart = lastStart - (count - 1) * cellMs;
  const cells: TimelineCell[] = Array.from({ length: count }, (_, i) => ({ start: firstStart + i * cellMs, state: 'none', attempts: 0, reasons: [] }));
  const cellOf = (at: number): TimelineCell | undefined => (at < firstStart || at > now ? undefined : cells[Math.floor((at - firstStart) / cellMs)]);

  const failed = new Set<string>();
  for (const f of [...failures].sort((a, b) => a.at - b.at)) {
    const cell = cellOf(f.at);
    if (!cell) continue;
    failed.add(f.attemptId);
    cell.state = 'fail';
    cell.attempts += 1;
    const label = reasonLabel(f);
    if (!cell.reasons.includes(label)) cell.reasons.push(label);
  }
  for (const [id, at] of attempts) {
    if (failed.has(id)) continue;
    const cell = cellOf(at);
    if (!cell) continue;
    cell.attempts += 1;
    if (cell.state === 'none') cell.state = 'ok';
  }
  return { node, cellMs, cells };
}
