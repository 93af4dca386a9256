import type { Sidecar } from './sidecar';

/**
 * What the fault tests read from sidecars' /metrics: who says it leads, and a gauge's
 * value. A sidecar that does not answer (killed, paused, Redis away) is skipped.
 */
export function saysLeader(metricsText: string): boolean {
  return /^fdl_cloudauth_leader\{[^}]*\} 1$/m.test(metricsText);
}

/** Node ids of the sidecars whose /metrics say they lead now. */
export async function leaders(list: readonly Sidecar[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of list) {
    try {
      if (saysLeader((await s.get('/metrics')).text)) out.push(s.nodeId);
    } catch {
      /* not answering */
    }
  }
  return out;
}

/** The value of a single-series gauge of one sidecar (NaN when absent). */
export async function gauge(s: Sidecar, name: string): Promise<number> {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'm').exec((await s.get('/metrics')).text);
  return Number(m?.[1] ?? NaN);
}
