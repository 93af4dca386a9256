import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { packageRoot } from '../shared/package-root';
import { track } from './process-registry';
import { waitFor } from './wait';

/**
 * An aggregator candidate (leader election + aggregator, as the daemon wires them)
 * in its own process, loaded from dist/ (`npm run build`), for tests that SIGSTOP or
 * SIGKILL a leader and for the failover benchmark. It writes one JSON line per event:
 * `{ready}`, `{elected, at, instance}` (Date.now() when it became leader),
 * `{demoted, isLeader}` (the reason of a step-down, read from the election's log line
 * as an operator reads it), with `reportMs` a periodic `{isLeader}`, and
 * `{closed}` after a graceful SIGTERM, on which it closes like the daemon: election
 * first, so the lease is released and the release published.
 */
const SOURCE = `
const root = process.env.BENCH_ROOT;
const { createRedis, closeRedis } = require(root + '/dist/shared/redis/connection.js');
const { ProjectKeys } = require(root + '/dist/shared/redis/keys.js');
const { createLogger } = require(root + '/dist/shared/logger.js');
const { monotonicClock, systemTimers } = require(root + '/dist/shared/clock.js');
const { ChangeEvents } = require(root + '/dist/shared/redis/change-event-subscriber.js');
const { LeaderElection } = require(root + '/dist/daemon/aggregator/leader-election.js');
const { Aggregator } = require(root + '/dist/daemon/aggregator/aggregator.js');
const { ProjectViewReader } = require(root + '/dist/daemon/view/project-view.js');
const keys = new ProjectKeys(process.env.BENCH_PREFIX, process.env.BENCH_PROJECT);
const cfg = { url: process.env.BENCH_URL, sentinels: [], sentinelName: 'm', clusterNodes: [], keyPrefix: process.env.BENCH_PREFIX };
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let election;
const log = createLogger({ level: 'info', destination: { write(line) {
  const entry = JSON.parse(line);
  if (entry.part === 'leader-election' && entry.msg === 'Stepped down as aggregator leader') say({ demoted: entry.reason, isLeader: election.isLeader });
} } });
const redis = createRedis(cfg, { purpose: 'command' });
const subscriber = createRedis(cfg, { purpose: 'subscriber' });
const events = new ChangeEvents({ subscriber, keys, log });
(async () => {
  await new Promise((r) => redis.once('ready', r));
  await events.start();
  election = new LeaderElection({ redis, events, keys, log, nodeId: process.env.BENCH_NAME,
    leaseMs: Number(process.env.BENCH_LEASE_MS), renewMs: Number(process.env.BENCH_RENEW_MS),
    clock: monotonicClock, timers: systemTimers });
  const reader = new ProjectViewReader({ redis, keys, log, policy: { failurePolicy: 'any', threshold: 12, intervalMs: 7200000 } });
  const tuning = process.env.BENCH_SWEEP_MS ? { debounceMs: 10, sweepMs: Number(process.env.BENCH_SWEEP_MS) } : {};
  const aggregator = new Aggregator({ redis, events, election, reader, log, ...tuning, clock: monotonicClock, timers: systemTimers });
  aggregator.start();
  election.on('elected', (epoch) => say({ elected: epoch, at: Date.now(), instance: election.instance }));
  await election.start();
  say({ ready: true, leader: election.isLeader });
  if (process.env.BENCH_REPORT_MS) {
    setInterval(() => say({ isLeader: election.isLeader }), Number(process.env.BENCH_REPORT_MS));
  }
  process.once('SIGTERM', async () => {
    await election.close();
    await aggregator.close();
    await events.close();
    await closeRedis(redis);
    await closeRedis(subscriber);
    say({ closed: true });
    process.exit(0);
  });
})();
`;

export interface CandidateMessage {
  ready?: boolean;
  leader?: boolean;
  elected?: number;
  at?: number;
  instance?: string;
  demoted?: string;
  isLeader?: boolean;
  closed?: boolean;
}

export interface CandidateEnv {
  url: string;
  prefix: string;
  leaseMs: number;
  renewMs: number;
  /** Project name; default `bench`. */
  project?: string;
  /** Aggregator sweep (and a 10 ms debounce); default the daemon's. */
  sweepMs?: number;
  /** Report `{isLeader}` this often; default never. */
  reportMs?: number;
}

export class CandidateChild {
  readonly messages: CandidateMessage[] = [];
  readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    env: CandidateEnv,
  ) {
    const root = packageRoot();
    this.child = spawn(process.execPath, ['-e', SOURCE], {
      env: {
        PATH: process.env.PATH ?? '',
        BENCH_ROOT: root,
        BENCH_URL: env.url,
        BENCH_PREFIX: env.prefix,
        BENCH_NAME: name,
        BENCH_LEASE_MS: String(env.leaseMs),
        BENCH_RENEW_MS: String(env.renewMs),
        BENCH_PROJECT: env.project ?? 'bench',
        ...(env.sweepMs ? { BENCH_SWEEP_MS: String(env.sweepMs) } : {}),
        ...(env.reportMs ? { BENCH_REPORT_MS: String(env.reportMs) } : {}),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(this.child);
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    const lines = readline.createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      try {
        this.messages.push(JSON.parse(line) as CandidateMessage);
      } catch {
        /* not ours */
      }
    });
  }

  get electedAt(): number | undefined {
    return [...this.messages].reverse().find((m) => m.elected !== undefined)?.at;
  }

  async ready(): Promise<void> {
    await waitFor(`candidate ${this.name} to start`, () => this.messages.some((m) => m.ready), 20_000, 10);
  }

  /** Resolves with the Date.now() at which this candidate reported being elected. */
  async elected(timeoutMs: number): Promise<number> {
    return (await waitFor(`candidate ${this.name} to be elected`, () => this.electedAt, timeoutMs, 5)) as number;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.signal(signal);
    await this.exited;
  }

  waitExit(): Promise<void> {
    return this.exited;
  }
}
