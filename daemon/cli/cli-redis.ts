import type { Logger } from 'pino';
import type { Config } from '../../shared/config/compile';
import { closeRedis, connectOrExplain, createRedis, describeRedis, RedisUnreachableError, type RedisClient } from '../../shared/redis/connection';
import { isConnectionError } from '../credentials/connection-error';

/**
 * The Redis connection of a CLI command: one short connection attempt, and every way
 * of losing Redis — before the first command or in the middle — turned into
 * RedisUnreachableError, which names the Redis and exits 3 (SPEC §4). The connection
 * is always closed, whatever `work` does.
 */
export async function withCliRedis<T>(cfg: Config['redis'], command: string, log: Logger, work: (redis: RedisClient) => Promise<T>): Promise<T> {
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
