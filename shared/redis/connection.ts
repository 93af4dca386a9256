import Redis, { Cluster, type RedisOptions } from 'ioredis';
import type { Config } from '../config/compile';
import { redisTlsSettings, redisUsesTls } from './tls-options';
import { RedisUnreachableError } from './redis-unreachable-error';

export { RedisUnreachableError };

/**
 * One factory for every Redis connection the product opens: standalone (URL),
 * Sentinel, or Cluster, chosen by configuration. The purpose decides the retry
 * behaviour, because the callers need different things:
 * - `bullmq`: BullMQ requires `maxRetriesPerRequest: null` (its blocking commands
 *   must wait across reconnects);
 * - `command`: the agent and aggregator want a command to fail fast while Redis is
 *   away (the agent then journals locally) and the connection to keep reconnecting;
 * - `subscriber`: pub/sub, reconnects forever;
 * - `cli`: one short try; a CLI says which Redis it could not reach and exits 3.
 */
export type RedisClient = Redis | Cluster;
export type RedisPurpose = 'bullmq' | 'command' | 'subscriber' | 'cli';

export interface RedisConnectOptions {
  purpose: RedisPurpose;
  /** Shown in CLIENT LIST, helps operators tell sidecars apart. */
  connectionName?: string;
  lazyConnect?: boolean;
}

function baseOptions(cfg: Config['redis'], options: RedisConnectOptions): RedisOptions {
  const url = new URL(cfg.url);
  const tls = redisUsesTls(cfg) ? redisTlsSettings(cfg) : undefined;
  const common: RedisOptions = {
    connectionName: options.connectionName,
    lazyConnect: options.lazyConnect ?? false,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls,
    connectTimeout: options.purpose === 'cli' ? 3000 : 5000,
    // Reconnect quickly at first, then every 2 s: a restarted Redis is found at once.
    retryStrategy: options.purpose === 'cli' ? () => null : (times: number) => Math.min(100 * times, 2000),
  };
  switch (options.purpose) {
    case 'bullmq':
      return { ...common, maxRetriesPerRequest: null, enableReadyCheck: true };
    case 'command':
      // A paused or partitioned Redis keeps the socket open; without a timeout a
      // command would wait forever instead of letting the agent journal.
      return { ...common, maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 5000 };
    case 'subscriber':
      return { ...common, maxRetriesPerRequest: null };
    case 'cli':
      return { ...common, maxRetriesPerRequest: 0, enableOfflineQueue: true, commandTimeout: 10_000 };
  }
}

export function createRedis(cfg: Config['redis'], options: RedisConnectOptions): RedisClient {
  const base = baseOptions(cfg, options);
  if (cfg.clusterNodes.length > 0) {
    return new Cluster([...cfg.clusterNodes], {
      redisOptions: base,
      lazyConnect: base.lazyConnect,
      enableOfflineQueue: base.enableOfflineQueue ?? true,
      maxRedirections: 16,
      clusterRetryStrategy: base.retryStrategy as (times: number) => number | null,
    });
  }
  if (cfg.sentinels.length > 0) {
    const url = new URL(cfg.url);
    return new Redis({
      ...base,
      sentinels: [...cfg.sentinels],
      name: cfg.sentinelName,
      // Without this flag ioredis speaks plain RESP to the primary Sentinel names even
      // for rediss:// — the AUTH with the Redis password crossed the network in clear.
      enableTLSForSentinelMode: base.tls !== undefined,
      sentinelTLS: cfg.sentinelTls ? redisTlsSettings(cfg) : undefined,
      sentinelUsername: cfg.sentinelUsername || undefined,
      sentinelPassword: cfg.sentinelPassword || undefined,
      db: Number(url.pathname.slice(1)) || 0,
      sentinelRetryStrategy: (times: number) => (options.purpose === 'cli' ? null : Math.min(100 * times, 2000)),
    });
  }
  const url = new URL(cfg.url);
  return new Redis({
    ...base,
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(url.port) || 6379,
    db: Number(url.pathname.slice(1)) || 0,
  });
}

/** Where Redis is, for messages: never includes a password. */
export function describeRedis(cfg: Config['redis']): string {
  if (cfg.clusterNodes.length > 0) return `Redis Cluster ${cfg.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (cfg.sentinels.length > 0) {
    return `Redis primary "${cfg.sentinelName}" through Sentinel ${cfg.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  }
  const url = new URL(cfg.url);
  return `Redis at ${url.protocol}//${url.host}${url.pathname && url.pathname !== '/' ? url.pathname : ''}`;
}

/** Connects a lazily created client, turning a failure into RedisUnreachableError. */
export async function connectOrExplain(client: RedisClient, cfg: Config['redis']): Promise<void> {
  // ioredis reports why a socket failed (a certificate not trusted, a wrong server
  // name) as an 'error' event and rejects the command only with "Connection is
  // closed"; the event's reason is what tells an operator what to fix.
  let reason: unknown;
  const remember = (error: unknown) => (reason = error);
  client.on('error', remember);
  try {
    if (client.status === 'wait') await client.connect();
    await client.ping();
  } catch (error) {
    disconnect(client);
    throw new RedisUnreachableError(describeRedis(cfg), reason ?? error);
  } finally {
    client.off('error', remember);
  }
}

/**
 * Disconnects a client unless it has already ended. ioredis's disconnect() ends the
 * socket and arms a 2 s timer that only the socket's next 'close' clears: on a socket
 * that is already closed (a refused connection, no retry) nothing clears it, and a CLI
 * that could not reach Redis sat 2 s before exiting.
 */
function disconnect(client: RedisClient): void {
  if (client.status !== 'end') client.disconnect();
}

/** QUIT if possible, disconnect otherwise; never throws. */
export async function closeRedis(client: RedisClient | undefined): Promise<void> {
  if (!client) return;
  try {
    if (client.status === 'ready') {
      await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
  } catch {
    /* connection already gone */
  }
  disconnect(client);
}
