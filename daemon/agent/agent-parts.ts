import type { Logger } from 'pino';
import type { Clock, Timers } from '../../shared/clock';
import type { Config } from '../../shared/config/compile';
import { stableOffset } from '../../shared/heartbeat-grid';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import type { NodeMetrics } from '../metrics/node-metrics';
import type { AuthClient } from '../protocol/auth-client';
import { AttemptFlow } from './attempt-flow';
import { AttemptRunner } from './attempt-runner';
import { HeartbeatScheduler } from './heartbeat-scheduler';
import { LocalDisk, retryPeriodMs } from './local-disk';
import { LocalState, type CachedCredential } from './local-state';
import { Recovery } from './recovery';
import { ResultSink } from './result-sink';

/**
 * The agent's parts, built and wired to each other: the node's disk and local state,
 * recovery, the result sink, the attempt runner and flow, and the heartbeat scheduler
 * on the node's grid. Construction only — the agent (agent.ts) decides when each runs.
 */
export interface AgentPartsOptions {
  config: Config;
  keys: ProjectKeys;
  /** Fail-fast command connection (enableOfflineQueue off). */
  redis: RedisClient;
  /** Connection for BullMQ (maxRetriesPerRequest null). */
  bullConnection: RedisClient;
  authClient: AuthClient;
  /** Opens the stored credential with this node's private key. */
  decrypt(credential: CachedCredential): Promise<string>;
  metrics: NodeMetrics;
  clock: Clock;
}

export interface AgentParts {
  disk: LocalDisk;
  local: LocalState;
  sink: ResultSink;
  flow: AttemptFlow;
  scheduler: HeartbeatScheduler;
}

export interface AgentHooks {
  /** Recovery put back what Redis lost (the agent's one signal of a data loss). */
  onDataLost: () => void;
  /** Aborts a running attempt when the agent gives up waiting for it at close. */
  signal: AbortSignal;
}

export function buildAgentParts(o: AgentPartsOptions, log: Logger, timers: Timers, hooks: AgentHooks): AgentParts {
  const { config, redis, keys, clock } = o;
  const nodeId = config.node.id;
  const intervalMs = config.heartbeat.intervalMs;
  const disk = new LocalDisk(config.journal.dir, log, { onError: (op) => o.metrics.localWriteFailed(op), timers, retryMs: retryPeriodMs(intervalMs) });
  const local = new LocalState(disk, nodeId);
  const recovery = new Recovery({ redis, keys, nodeId, local, log, onRestored: hooks.onDataLost });
  const sink = new ResultSink({ redis, keys, nodeId, disk, local, recovery, log, onLost: (why, count) => o.metrics.resultsLost(why, count) });
  const runner = new AttemptRunner({ config, authClient: o.authClient, decrypt: o.decrypt, metrics: o.metrics, clock, timers, log });
  const flow = new AttemptFlow({ config, redis, keys, local, recovery, runner, sink, clock, log, signal: hooks.signal });
  const offsetMs = stableOffset(config.project, nodeId, intervalMs);
  const scheduler = new HeartbeatScheduler({ clock, timers, nodeId, bullPrefix: keys.bullPrefix, connection: o.bullConnection, intervalMs, offsetMs });
  log.info({ intervalMs, offsetMs }, 'Heartbeat grid');
  return { disk, local, sink, flow, scheduler };
}
