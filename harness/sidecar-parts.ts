import { once } from 'node:events';
import { monotonicClock, systemTimers, type Clock, type Timers } from '../shared/clock';
import { createRedis, closeRedis, type RedisClient } from '../shared/redis/connection';
import type { Config } from '../shared/config/compile';
import { createLogger, type Logger } from '../shared/logger';
import type { ProjectKeys } from '../shared/redis/keys';
import { ChangeEvents } from '../shared/redis/change-event-subscriber';
import { LeaderElection } from '../daemon/aggregator/leader-election';
import { Aggregator } from '../daemon/aggregator/aggregator';
import { ProjectViewReader } from '../daemon/view/project-view';
import type { ViewPolicy } from '../daemon/view/compute-view';

/** The aggregator half of a sidecar, wired as the daemon wires it, for tests. */
export const silentLog = createLogger({ level: 'silent' });

/** The clock and timers the daemon gives the election and the aggregator. */
export const realTime: { readonly clock: Clock; readonly timers: Timers } = Object.freeze({ clock: monotonicClock, timers: systemTimers });

/** The line the election logs each time it stops leading, with the `reason` (a DemotionReason). */
const STEPPED_DOWN = 'Stepped down as aggregator leader';

/**
 * A logger for an election that keeps the reason of each step-down as the election
 * logs it: a test sees a demotion where an operator does, in the log, and the election
 * needs no hook for tests. Its other lines go nowhere.
 */
export function stepDownLog(): { readonly log: Logger; readonly reasons: string[] } {
  const reasons: string[] = [];
  const log = createLogger({
    level: 'info',
    destination: {
      write(line: string): void {
        const entry = JSON.parse(line) as { part?: unknown; msg?: unknown; reason?: unknown };
        if (entry.part === 'leader-election' && entry.msg === STEPPED_DOWN) reasons.push(String(entry.reason));
      },
    },
  });
  return { log, reasons };
}

export function redisConfig(url: string, keyPrefix: string): Config['redis'] {
  return {
    url,
    sentinels: [],
    sentinelName: 'mymaster',
    clusterNodes: [],
    keyPrefix,
    sentinelUsername: '',
    sentinelPassword: '',
    sentinelTls: false,
    tls: { caFile: '', certFile: '', keyFile: '', servername: '' },
  };
}

export interface CandidateOptions {
  url: string;
  /** Where the subscriber connects (defaults to url). */
  subscriberUrl?: string;
  keys: ProjectKeys;
  nodeId: string;
  leaseMs?: number;
  renewMs?: number;
  policy?: ViewPolicy;
  withAggregator?: boolean;
  sweepMs?: number;
  /** The election's and the aggregator's clock, as the daemon's monotonicClock unless given (a FakeClock moves it by hand). */
  clock?: Clock;
  /** Their timers, on the same time as `clock`: systemTimers unless given. */
  timers?: Timers;
}

export interface Candidate {
  redis: RedisClient;
  subscriber: RedisClient;
  events: ChangeEvents;
  election: LeaderElection;
  reader: ProjectViewReader;
  aggregator: Aggregator | undefined;
  /** The epoch of each election won, in order (the election's `elected` event, which the aggregator also hears). */
  elected: number[];
  /** The reason of each step-down, in order, as the election logged it. */
  demoted: string[];
  close(): Promise<void>;
}

export const DEFAULT_POLICY: ViewPolicy = { failurePolicy: 'any', threshold: 12, intervalMs: 7_200_000 };

export async function startCandidate(options: CandidateOptions): Promise<Candidate> {
  const cfg = redisConfig(options.url, options.keys.keyPrefix);
  const redis = createRedis(cfg, { purpose: 'command', connectionName: `${options.nodeId}-cmd` });
  // The command connection queues nothing while it connects (enableOfflineQueue off,
  // as in the daemon): callers that write right after start need it ready, which on a
  // loaded machine can take longer than the election's first try.
  if (redis.status !== 'ready') await once(redis, 'ready');
  const subscriber = createRedis(redisConfig(options.subscriberUrl ?? options.url, options.keys.keyPrefix), { purpose: 'subscriber' });
  const events = new ChangeEvents({ subscriber, keys: options.keys, log: silentLog });
  await events.start();
  const elected: number[] = [];
  const stepDowns = stepDownLog();
  const time = { clock: options.clock ?? realTime.clock, timers: options.timers ?? realTime.timers };
  const election = new LeaderElection({
    redis,
    events,
    keys: options.keys,
    log: stepDowns.log,
    nodeId: options.nodeId,
    leaseMs: options.leaseMs ?? 1000,
    renewMs: options.renewMs ?? 200,
    ...time,
  });
  const reader = new ProjectViewReader({ redis, keys: options.keys, policy: options.policy ?? DEFAULT_POLICY, log: silentLog });
  const aggregator = options.withAggregator
    ? new Aggregator({ redis, events, election, reader, log: silentLog, debounceMs: 20, sweepMs: options.sweepMs ?? 200, ...time })
    : undefined;
  aggregator?.start();
  election.on('elected', (epoch: number) => elected.push(epoch));
  await election.start();
  return {
    redis,
    subscriber,
    events,
    election,
    reader,
    aggregator,
    elected,
    demoted: stepDowns.reasons,
    close: async () => {
      await aggregator?.close();
      await election.close();
      await events.close();
      await closeRedis(redis);
      await closeRedis(subscriber);
    },
  };
}
