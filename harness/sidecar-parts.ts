import { once } from 'node:events';
import { monotonicClock, systemTimers, type Clock, type Timers } from '../shared/clock';
import { createRedis, closeRedis, type RedisClient } from '../shared/redis/connection';
import type { Config } from '../shared/config/compile';
import { createLogger } from '../shared/logger';
import type { ProjectKeys } from '../shared/redis/keys';
import { ChangeEvents } from '../shared/redis/change-event-subscriber';
import { LeaderElection, type DemotionReason } from '../daemon/aggregator/leader-election';
import { Aggregator } from '../daemon/aggregator/aggregator';
import { ProjectViewReader } from '../daemon/view/project-view';
import type { ViewPolicy } from '../daemon/view/compute-view';

/** The aggregator half of a sidecar, wired as the daemon wires it, for tests. */
export const silentLog = createLogger({ level: 'silent' });

/** The clock and timers the daemon gives the election and the aggregator. */
export const realTime: { readonly clock: Clock; readonly timers: Timers } = Object.freeze({ clock: monotonicClock, timers: systemTimers });

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
  elected: number[];
  demoted: DemotionReason[];
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
  const demoted: DemotionReason[] = [];
  const time = { clock: options.clock ?? realTime.clock, timers: options.timers ?? realTime.timers };
  const election = new LeaderElection({
    redis,
    events,
    keys: options.keys,
    log: silentLog,
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
  election.on('demoted', (reason: DemotionReason) => demoted.push(reason));
  await election.start();
  return {
    redis,
    subscriber,
    events,
    election,
    reader,
    aggregator,
    elected,
    demoted,
    close: async () => {
      await aggregator?.close();
      await election.close();
      await events.close();
      await closeRedis(redis);
      await closeRedis(subscriber);
    },
  };
}
