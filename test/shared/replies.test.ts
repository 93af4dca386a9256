import Redis from 'ioredis';
import { isWrongType } from '../../shared/redis/damaged-key-error';
import { execAll, hashValue, readRedisTimeMs, redisTimeMs, scoredMembers, stringList, stringValue } from '../../shared/redis/replies';
import { disposeAllRedis, startRedis, testPrefix } from '../support/redis-server';

/**
 * The one way replies are read: a batch's values in order, the first error thrown
 * unless the caller tolerates it (then its value is undefined and its index named),
 * Redis TIME in ms, and values of another shape refused or read as empty — on a real
 * redis-server, so the shapes are ioredis's own.
 */
let redis: Redis;

beforeAll(async () => {
  redis = new Redis((await startRedis()).url);
});

afterAll(async () => {
  redis.disconnect();
  await disposeAllRedis();
});

it('execAll hands back each command\'s value in order, for a pipeline and for MULTI', async () => {
  const key = testPrefix('replies');
  await redis.hset(`${key}:h`, { a: '1' });
  await redis.zadd(`${key}:z`, 5, 'x', 7, 'y');
  for (const batch of [redis.pipeline(), redis.multi()]) {
    const { values, tolerated } = await execAll(batch.hgetall(`${key}:h`).get(`${key}:missing`).zrange(`${key}:z`, '0', '-1', 'WITHSCORES').time());
    expect(hashValue(values[0])).toEqual({ a: '1' });
    expect(stringValue(values[1])).toBeNull();
    expect(scoredMembers(values[2])).toEqual([['x', 5], ['y', 7]]);
    expect(redisTimeMs(values[3])).toBeGreaterThan(1_600_000_000_000);
    expect(tolerated.size).toBe(0);
  }
});

it('execAll throws the first error it is not told to tolerate, and names the ones it tolerated', async () => {
  const key = testPrefix('replies');
  await redis.set(`${key}:s`, 'a string');
  const batch = () => redis.pipeline().get(`${key}:s`).hgetall(`${key}:s`).lrange(`${key}:s`, 0, -1);
  await expect(execAll(batch())).rejects.toThrow(/WRONGTYPE/);
  const { values, tolerated } = await execAll(batch(), (error, i) => i === 1 || (i === 2 && isWrongType(error)));
  expect(values).toEqual(['a string', undefined, undefined]);
  expect([...tolerated]).toEqual([1, 2]);
});

it('Redis TIME in ms matches the server clock, and a reply of another shape is refused by name', async () => {
  const before = Date.now();
  const ms = await readRedisTimeMs(redis);
  // Same machine, same clock: the reading falls between the two local readings (within a ms of rounding).
  expect(ms).toBeGreaterThanOrEqual(before - 1);
  expect(ms).toBeLessThanOrEqual(Date.now() + 1);
  expect(redisTimeMs(['1700000000', '123456'])).toBe(1_700_000_000_123);
  expect(() => redisTimeMs(null)).toThrow(/Redis TIME answered/);
  expect(() => redisTimeMs(['x', '1'])).toThrow(/not a number/);
});

it('values of another shape read as empty, never as a cast that lies', () => {
  expect(hashValue(undefined)).toEqual({});
  expect(hashValue(['a'])).toEqual({});
  expect(stringValue(3)).toBeNull();
  expect(scoredMembers(null)).toEqual([]);
  expect(stringList(undefined)).toEqual([]);
});
