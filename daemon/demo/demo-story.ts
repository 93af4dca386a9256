import { humanSpan, reasonCell } from '../view/text-tables';
import type { ProjectView } from '../view/compute-view';
import { ALLOWED_RANGE, DEMO_NODES, type DemoCluster } from './demo-cluster';
import { DemoError } from './demo-error';
import type { LiveTable } from './live-table';
import { StoryAborted } from './story-aborted';

/**
 * The scripted story of the demo, in six steps, each one waiting for the cluster to
 * really get there (read from Redis through the same code as `fdl-cloudauth status`):
 *
 *   1 every node authenticated: registered
 *   2 node-3's IP leaves the account's allow-list (admin API of the reference server)
 *   3 node-3 fails with 30003 LICENSE_IP_ERROR: degraded
 *   4 node-3 reaches the failure threshold: the leader marks the project failed
 *   5 the allow-list is fixed and the project registered again (as `register` does)
 *   6 every node authenticated under the new registration: registered again
 *
 * A step that does not happen within STEP_TIMEOUT_MS ends the demo with a DemoError
 * naming the step, so the demo never hangs on a broken cluster. Between reads the
 * live table is refreshed.
 */
export const STEPS = 6;
const STEP_TIMEOUT_MS = 90_000;

export interface DemoStoryOptions {
  cluster: DemoCluster;
  table: LiveTable;
  signal: AbortSignal;
  /** How long the failed project stays on screen before it is registered again. */
  holdFailedMs: number;
  /** How often the cluster is read while a step is awaited. */
  pollMs: number;
}

export class DemoStory {
  /** The last step reached (0 before the first). */
  step = 0;
  private readonly failing = DEMO_NODES[DEMO_NODES.length - 1] as (typeof DEMO_NODES)[number];

  constructor(private readonly o: DemoStoryOptions) {}

  private say(step: number, text: string): void {
    this.step = step;
    this.o.table.say(`step ${step}/${STEPS}: ${text}`);
  }

  private sleep(ms: number): Promise<void> {
    const { signal } = this.o;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new StoryAborted());
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new StoryAborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Reads the cluster and refreshes the table; a failed read is shown, not fatal. */
  async refresh(): Promise<ProjectView | undefined> {
    try {
      const view = await this.o.cluster.readView();
      this.o.table.update(view);
      return view;
    } catch (error) {
      this.o.table.say(`  (could not read the cluster from Redis: ${(error as Error).message})`);
      return undefined;
    }
  }

  private async until(what: string, check: (view: ProjectView) => boolean): Promise<ProjectView> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const view = await this.refresh();
      if (view && check(view)) return view;
      if (Date.now() > deadline) {
        throw new DemoError(
          `step ${this.step + 1}/${STEPS} did not happen within ${STEP_TIMEOUT_MS / 1000} s: still waiting for ${what}.\n` +
            `Last lines of the sidecar logs:\n${this.o.cluster.logTails(8)}`,
        );
      }
      await this.sleep(this.o.pollMs);
    }
  }

  private node(view: ProjectView) {
    return view.nodes.find((n) => n.id === this.failing.id);
  }

  /** Runs the six steps; resolves when the project is registered again. */
  async run(): Promise<void> {
    const { cluster } = this.o;
    const everyNodeOk = (view: ProjectView, since = 0) =>
      view.nodes.length === DEMO_NODES.length && view.nodes.every((n) => n.status === 'ok' && (n.lastSuccessAt ?? 0) >= since);

    await this.until('every node to authenticate and a leader to be elected', (v) => v.status === 'registered' && everyNodeOk(v) && v.leader !== null);
    const leader = this.o.table.view?.leader;
    this.say(1, `all ${DEMO_NODES.length} nodes authenticated; the project is registered (leader ${leader?.instance ?? '?'})`);

    const others = DEMO_NODES.filter((n) => n !== this.failing).map((n) => `${n.ip}/32`);
    await cluster.saveAccount({ allowedIps: others });
    this.say(2, `taking ${this.failing.id}'s IP ${this.failing.ip} out of the account's allow-list (POST /admin/accounts, allowedIps ${others.join(', ')})`);

    const degraded = await this.until(`${this.failing.id} to fail`, (v) => v.status === 'degraded' && (this.node(v)?.consecutiveFailures ?? 0) >= 1);
    const reason = reasonCell(this.node(degraded)?.reason ?? null);
    const lockout = degraded.lockoutSeconds === null ? '' : `; lockout in ${humanSpan(degraded.lockoutSeconds * 1000)} if it keeps failing`;
    this.say(3, `${this.failing.id} is failing with ${reason}; the project is degraded${lockout}`);

    const failed = await this.until('the leader to mark the project failed', (v) => v.status === 'failed' && v.stored?.status === 'failed');
    this.say(
      4,
      `${this.failing.id} reached ${this.node(failed)?.consecutiveFailures ?? failed.threshold} consecutive failures (threshold ${failed.threshold}, policy ${failed.policy}): ` +
        'the project is marked FAILED; its nodes stop authenticating until it is registered again',
    );
    // Leave the failed project on screen for a moment, the table still refreshing.
    const holdUntil = Date.now() + this.o.holdFailedMs;
    while (Date.now() < holdUntil) {
      await this.sleep(Math.min(1000, Math.max(0, holdUntil - Date.now())));
      await this.refresh();
    }

    await cluster.saveAccount({ allowedIps: [ALLOWED_RANGE] });
    const registered = await cluster.register();
    this.say(
      5,
      `${this.failing.id}'s IP is allowed again (${ALLOWED_RANGE}); registered the project again as \`fdl-cloudauth register\` does ` +
        `(generation ${registered.generation}${registered.clearedFailed ? `, failed status cleared, ${registered.nodesReset} streaks reset` : ''})`,
    );

    await this.until('every node to authenticate under the new registration', (v) => v.status === 'registered' && everyNodeOk(v, registered.registeredAt));
    this.say(6, 'every node authenticated with the new registration: the project is registered again');
  }

  /** After the story: keeps the table fresh until the signal aborts. */
  async idle(): Promise<void> {
    for (;;) {
      await this.refresh();
      await this.sleep(1000);
    }
  }
}
