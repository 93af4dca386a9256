import type { Parsed } from './protocol-request';

/**
 * Injected faults of `POST /admin/faults` (SPEC §5), for demos and tests.
 *
 * Kept in memory, not in Redis: a fault is a knob on one server process. A restart
 * clears it, so a fault forgotten after a demo never outlives the process, and test
 * suites running several servers on one Redis cannot leak faults into each other.
 *
 * Effects on /v1/authenticate (after the body parsed, before any check, so a
 * transport fault never changes state): `delay` waits `ms` before the request is
 * processed; `http500`, `malformed` and `reset` replace the answer. `mysql` and
 * `redis` act at the "server's own writes" step, after every other check passed,
 * and answer 20001 / 20002 without binding.
 */
export const FAULT_MODES = ['delay', 'http500', 'malformed', 'reset', 'mysql', 'redis'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];
export type TransportFault = 'http500' | 'malformed' | 'reset';
export type WriteFault = 'mysql' | 'redis';

export interface Fault {
  readonly id: number;
  readonly mode: FaultMode;
  readonly ms: number;
  /** Probability a matching request is hit, 0..1. */
  readonly rate: number;
  /** Node ids it applies to; null: every node. */
  readonly nodes: readonly string[] | null;
}

const MAX_DELAY_MS = 600_000;

export function parseFaultRequest(body: unknown): Parsed<Omit<Fault, 'id'>> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, problems: ['the request must be a JSON object'] };
  const b = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(b)) {
    if (!['mode', 'ms', 'rate', 'nodes'].includes(key)) problems.push(`${key} is not a known field (known: mode, ms, rate, nodes)`);
  }
  const mode = FAULT_MODES.find((m) => m === b.mode);
  if (!mode) problems.push(`mode must be one of ${FAULT_MODES.join(', ')}`);
  let ms = 0;
  if (b.ms !== undefined) {
    if (typeof b.ms !== 'number' || !Number.isInteger(b.ms) || b.ms < 0 || b.ms > MAX_DELAY_MS)
      problems.push(`ms must be a whole number from 0 to ${MAX_DELAY_MS}`);
    else ms = b.ms;
  } else if (mode === 'delay') problems.push('ms is required for mode "delay"');
  let rate = 1;
  if (b.rate !== undefined) {
    if (typeof b.rate !== 'number' || !(b.rate >= 0 && b.rate <= 1)) problems.push('rate must be a number from 0 to 1 (omit it for 1)');
    else rate = b.rate;
  }
  let nodes: string[] | null = null;
  if (b.nodes !== undefined && b.nodes !== null) {
    if (!Array.isArray(b.nodes) || b.nodes.length === 0 || !b.nodes.every((n) => typeof n === 'string' && n.length > 0)) {
      problems.push('nodes must be a non-empty array of node ids (omit it for every node)');
    } else nodes = b.nodes as string[];
  }
  if (problems.length > 0 || !mode) return { ok: false, problems };
  return { ok: true, value: { mode, ms, rate, nodes } };
}

export class FaultInjector {
  private faults: Fault[] = [];
  private nextId = 1;

  /** `random` is injectable so a test can make rate decisions deterministic. */
  constructor(private readonly random: () => number = Math.random) {}

  add(fault: Omit<Fault, 'id'>): Fault {
    const stored = Object.freeze({ ...fault, id: this.nextId++ });
    this.faults.push(stored);
    return stored;
  }

  clear(): number {
    const count = this.faults.length;
    this.faults = [];
    return count;
  }

  list(): readonly Fault[] {
    return [...this.faults];
  }

  private hits(fault: Fault, nodeId: string | undefined): boolean {
    if (fault.nodes !== null && (nodeId === undefined || !fault.nodes.includes(nodeId))) return false;
    return fault.rate >= 1 || this.random() < fault.rate;
  }

  /** Total delay of the delay faults that hit this request. */
  delayFor(nodeId: string | undefined): number {
    return this.faults.filter((f) => f.mode === 'delay' && this.hits(f, nodeId)).reduce((sum, f) => sum + f.ms, 0);
  }

  /** The first transport fault (in the order added) that hits this request. */
  transportFault(nodeId: string | undefined): TransportFault | undefined {
    for (const fault of this.faults) {
      if ((fault.mode === 'http500' || fault.mode === 'malformed' || fault.mode === 'reset') && this.hits(fault, nodeId)) return fault.mode;
    }
    return undefined;
  }

  writeFault(nodeId: string): WriteFault | undefined {
    for (const fault of this.faults) {
      if ((fault.mode === 'mysql' || fault.mode === 'redis') && this.hits(fault, nodeId)) return fault.mode;
    }
    return undefined;
  }
}
