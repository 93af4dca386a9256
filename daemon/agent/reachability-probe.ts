import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import type { Timer, Timers } from '../../shared/clock';
import type { Logger } from '../../shared/logger';
import { ProbeMetrics } from '../metrics/probe-metrics';
import { probeReachability, type ReachabilityResult, type ReachabilityTarget } from '../protocol/reachability';

/**
 * The agent's early warning between heartbeats: every `probe.interval` it checks that
 * the authorization server is reachable (DNS, TCP, TLS through the proxy; see
 * protocol/reachability.ts) and exports the answer, so a firewall or proxy change is
 * seen within minutes instead of at the next heartbeat, up to 2 h later. Probes run
 * one after the other (a slow one delays the next instead of piling up), on the
 * injected timers (the system's never keep the process alive). Its series are
 * metrics/probe-metrics.ts'; they appear with the first probe.
 */
export interface ReachabilityProbeOptions {
  registry: Registry;
  project: string;
  node: string;
  authServer: { url: string; caFile: string; proxy: string; timeoutMs: number };
  intervalMs: number;
  logger: Logger;
  /** When the next probe runs (the daemon gives systemTimers). */
  timers: Timers;
}

export class ReachabilityProbe {
  private readonly log: Logger;
  private readonly target: ReachabilityTarget;
  private timer: Timer | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private last: ReachabilityResult | null = null;
  private readonly metrics: ProbeMetrics;

  constructor(private readonly o: ReachabilityProbeOptions) {
    this.log = o.logger.child({ part: 'probe' });
    this.target = {
      url: o.authServer.url,
      ca: o.authServer.caFile ? readFileSync(o.authServer.caFile) : undefined,
      proxy: o.authServer.proxy,
      timeoutMs: o.authServer.timeoutMs,
    };
    this.metrics = new ProbeMetrics(o.registry, o.project, o.node);
  }

  start(): void {
    if (this.o.intervalMs <= 0) {
      this.log.info('Reachability probe off (probe.interval is 0)');
      return;
    }
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = this.o.timers.after(delayMs, () => {
      this.running = this.probeOnce()
        .then(() => undefined)
        .finally(() => {
          this.running = undefined;
          this.schedule(this.o.intervalMs);
        });
    });
  }

  /** One probe, its metrics and — when reachability changed — one log line. */
  async probeOnce(): Promise<ReachabilityResult> {
    const result = await probeReachability(this.target);
    this.metrics.observe(result);
    const fields = { step: result.failedStep, detail: result.detail, via: result.via };
    if (!result.reachable && (this.last === null || this.last.reachable)) this.log.warn(fields, 'Authorization server unreachable');
    else if (result.reachable && this.last !== null && !this.last.reachable) this.log.info(fields, 'Authorization server reachable again');
    this.last = result;
    return result;
  }

  /** Stops the timer and waits for a probe in flight; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    await this.running;
  }
}
