import { sleep } from '../../harness/wait';
import type { Sidecar } from '../../harness/sidecar';

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

/**
 * Watches who leads for `ms` (e.g. while a resumed or healed sidecar may try to take
 * the lease back): fails as soon as two sidecars say they lead at once. A sidecar too
 * slow to answer counts as not leading, so a loaded machine cannot fail it.
 */
export async function expectNeverTwoLeaders(list: readonly Sidecar[], ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const now = await leaders(list);
    if (now.length > 1) throw new Error(`two sidecars lead at once: ${now.join(', ')}`);
    await sleep(100);
  }
}

/** The value of a single-series gauge of one sidecar (NaN when absent). */
export async function gauge(s: Sidecar, name: string): Promise<number> {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'm').exec((await s.get('/metrics')).text);
  return Number(m?.[1] ?? NaN);
}
