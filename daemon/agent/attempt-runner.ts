import type { Logger } from 'pino';
import { sleepOn, type Clock, type Timer, type Timers } from '../../shared/clock';
import { CREDENTIAL_UNREADABLE } from '../../shared/catalog';
import type { Config } from '../../shared/config/compile';
import type { NodeMetrics } from '../metrics/node-metrics';
import type { AuthClient } from '../protocol/auth-client';
import type { Outcome } from '../protocol/classify';
import { ATTEMPT_BUDGET_MS, authenticate } from './authenticate';
import type { CachedCredential } from './local-state';

/**
 * One attempt, credential to classified outcome (SPEC R2): open the stored credential
 * with this node's key, call /v1/authenticate with retries and backoff, all within the
 * attempt's budget. Time (clock, timers, the backoff's sleep, the budget's deadline) is
 * injected, so the budget rules are tested without waiting. Recording is not its part.
 */

export interface AttemptRunnerOptions {
  config: Pick<Config, 'project' | 'node' | 'product' | 'heartbeat'>;
  authClient: AuthClient;
  /** Opens the stored credential with this node's private key. */
  decrypt(credential: CachedCredential): Promise<string>;
  metrics: Pick<NodeMetrics, 'attemptFinished'>;
  clock: Clock;
  timers: Timers;
  log: Logger;
}

/** Thrown when the attempt was aborted (shutdown): left unrecorded for BullMQ to run again under the same id. */
export class AttemptAbandoned extends Error {
  constructor(readonly attemptId: string) {
    super('attempt abandoned by shutdown');
  }
}

export class AttemptRunner {
  constructor(private readonly o: AttemptRunnerOptions) {}

  async run(credential: CachedCredential, attemptId: string, signal: AbortSignal): Promise<Outcome> {
    const started = this.o.clock.now();
    const opened = await this.open(credential, attemptId);
    const outcome = 'failure' in opened ? opened.failure : await this.call(credential.account, opened.password, attemptId, signal);
    if (signal.aborted) throw new AttemptAbandoned(attemptId);
    this.o.metrics.attemptFinished(outcome.ok, outcome.ok ? null : outcome.name, (this.o.clock.now() - started) / 1000);
    return outcome;
  }

  /** The call with its retries; backoff and budget scale down with short test intervals. */
  private async call(account: string, password: string, attemptId: string, signal: AbortSignal): Promise<Outcome> {
    const { config, timers, clock } = this.o;
    const intervalMs = config.heartbeat.intervalMs;
    const deadlines: Timer[] = [];
    const deadline = (ms: number): AbortSignal => {
      const controller = new AbortController();
      deadlines.push(timers.after(ms, () => controller.abort(new Error(`budget of ${ms} ms ran out`))));
      return controller.signal;
    };
    try {
      const { outcome } = await authenticate(
        this.o.authClient,
        { account, password, project: config.project, node: { ...config.node }, version: config.product.version, requestId: attemptId },
        {
          retries: config.heartbeat.retries,
          backoffMs: Math.min(1000, Math.floor(intervalMs / 20)),
          budgetMs: Math.min(ATTEMPT_BUDGET_MS, Math.floor(intervalMs * 0.8)),
          sleep: (ms, s) => sleepOn(timers, ms, s),
          now: () => clock.now(),
          deadline,
        },
        signal,
      );
      return outcome;
    } finally {
      for (const timer of deadlines) timer.cancel();
    }
  }

  /**
   * The password, or — when this node cannot open the stored credential (key file
   * missing, wrong key pair after a crypto switch) — a failure to record under a local
   * reason of its own: nothing reaches the server, which counts that as failing, so the
   * project must degrade and alert instead of the node silently going stale.
   */
  private async open(credential: CachedCredential, attemptId: string): Promise<{ password: string } | { failure: Outcome }> {
    try {
      return { password: await this.o.decrypt(credential) };
    } catch (error) {
      this.o.log.error({ err: error, attemptId }, 'Cannot open the stored credential on this node');
      return {
        failure: {
          ok: false,
          code: null,
          name: CREDENTIAL_UNREADABLE.name,
          message: `not sent: this node cannot open the stored credential (${(error as Error).message}); check crypto.keyDir`,
          transient: false,
        },
      };
    }
  }
}
