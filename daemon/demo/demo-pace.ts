import type { DemoTiming } from './demo-cluster';

/**
 * How fast the demo's story plays. `normal` is what a person watches: a heartbeat
 * every 3 s and the failed project held on screen for 6 s, about a minute in all.
 * `fast` runs the same story, same steps, threshold and policy, on a 1 s heartbeat
 * (the shortest the configuration allows), with the failed project held for 1 s and
 * the cluster read more often: for scripted runs such as the test suite, which only
 * needs the story's moments, not time to read them. Its leader lease (6 s) outlasts a
 * 3 s stall of the leader, as the test suite's noise budget asks (test/README.md).
 */
export const PACES = ['normal', 'fast'] as const;
export type DemoPaceName = (typeof PACES)[number];

export interface DemoPace {
  readonly timing: DemoTiming;
  /** How long the failed project stays on screen before it is registered again. */
  readonly holdFailedMs: number;
  /** How often the story reads the cluster while it waits for the next step. */
  readonly pollMs: number;
}

const SETTINGS: Readonly<Record<DemoPaceName, DemoPace>> = Object.freeze({
  normal: { timing: { intervalMs: 3000, failureThreshold: 4, leaseMs: 3000, renewMs: 1000 }, holdFailedMs: 6000, pollMs: 500 },
  fast: { timing: { intervalMs: 1000, failureThreshold: 4, leaseMs: 6000, renewMs: 1000 }, holdFailedMs: 1000, pollMs: 200 },
});

/** The pace named `name`, or undefined when there is none of that name. */
export function demoPace(name: string): DemoPace | undefined {
  return (PACES as readonly string[]).includes(name) ? SETTINGS[name as DemoPaceName] : undefined;
}
