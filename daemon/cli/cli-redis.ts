import type { Logger } from 'pino';
import type { Config } from '../../shared/config/compile';
import { closeRedis, connectOrExplain, createRedis, describeRedis, RedisUnreachableError, type RedisClient } from '../../shared/redis/connection';
import { isConnectionError } from '../credentials/connection-error';

/**
 * The Redis connection of a CLI command: one short connection attempt, and every way
 * of losing Redis — before the first command or in the middle — turned into
 * RedisUnreachableError, which names the Redis and exits 3 (SPEC §4). The connection
 * is always closed, whatever `work` does. With no redis.url given, it says which
 * default it uses on `stderr` first.
 */
/**
 * The line a CLI prints before it connects when no redis.url was given anywhere: run
 * without its environment file, it would otherwise read (or write) the Redis of
 * 127.0.0.1:6379 without a word, and answer for a project that is not there.
 */
export function defaultRedisNotice(cfg: Config['redis']): string | null {
  if (cfg.urlIsDefault !== true) return null;
  return (
    `notice: redis.url is not set, so this uses the default Redis ${cfg.url}. ` +
    'Set CLOUDAUTH_REDIS_URL (or redis.url in --config FILE) — on a node, load its environment file first: ' +
    'set -a; . /etc/fdl-cloudauth/env; set +a\n'
  );
}

export async function withCliRedis<T>(
  cfg: Config['redis'],
  command: string,
  log: Logger,
  stderr: { write(text: string): unknown },
  work: (redis: RedisClient) => Promise<T>,
): Promise<T> {
  const notice = defaultRedisNotice(cfg);
  if (notice) stderr.write(notice);
  let redis: RedisClient | undefined;
  try {
    redis = createRedis(cfg, { purpose: 'cli', lazyConnect: true, connectionName: `fdl-cloudauth-${command}` });
    // connectOrExplain reports a failed connection; without a listener ioredis would also print it raw.
    redis.on('error', (error: Error) => log.debug({ err: error }, 'Redis connection error'));
    await connectOrExplain(redis, cfg);
    return await work(redis);
  } catch (error) {
    if (redis && redis.status !== 'ready' && !(error instanceof RedisUnreachableError) && isConnectionError(error)) {
      throw new RedisUnreachableError(describeRedis(cfg), error);
    }
    throw error;
  } finally {
    await closeRedis(redis);
  }
}
