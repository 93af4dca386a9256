import Redis from 'ioredis';
import { isWrongType } from '../../shared/redis/damaged-key-error';
import {
  execAll,
  fieldValues,
  hashValue,
  readRedisTimeMs,
  RedisShapeError,
  redisTimeMs,
  scoredMembers,
  stringList,
  stringValue,
} from '../../shared/redis/replies';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';

/**
 * The one way replies are read: a batch's values in order, the first error thrown
 * unless the caller tolerates it (then its value is undefined and its index named),
 * Redis TIME in ms, and a value of another shape refused with the key's name (never
 * its value) — on a real redis-server, so the shapes are ioredis's own.
 */
let redis: Redis;

beforeAll(async () => {
  redis = new Redis((await startRedis()).url);
});

afterAll(async () => {
  redis.disconnect();
  await disposeAllRedis();
});

it("execAll hands back each command's value in order, for a pipeline and for MULTI", async () => {
  const key = testPrefix('replies');
  await redis.hset(`${key}:h`, { a: '1' });
  await redis.zadd(`${key}:z`, 5, 'x', 7, 'y');
  for (const batch of [redis.pipeline(), redis.multi()]) {
    const { values, tolerated } = await execAll(batch.hgetall(`${key}:h`).get(`${key}:missing`).zrange(`${key}:z`, '0', '-1', 'WITHSCORES').time());
    expect(hashValue(values[0])).toEqual({ a: '1' });
    expect(stringValue(values[1])).toBeNull();
    expect(scoredMembers(values[2])).toEqual([
      ['x', 5],
      ['y', 7],
    ]);
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
  expect(() => redisTimeMs(null)).toThrow(/Redis answered TIME with a value that is not \[seconds, microseconds\]/);
  expect(() => redisTimeMs(['x', '1'])).toThrow(/not a pair of numbers/);
});

it('HMGET values are read by field name, a missing field as null', async () => {
  const key = testPrefix('replies');
  await redis.hset(`${key}:h`, { a: '1', c: '3' });
  const { values } = await execAll(redis.pipeline().hmget(`${key}:h`, 'a', 'b', 'c'));
  expect(fieldValues(values[0], ['a', 'b', 'c'], `${key}:h`)).toEqual({ a: '1', b: null, c: '3' });
});

it("a hash is read from ioredis's object and from a flat list of pairs alike", () => {
  expect(hashValue({}, 'k')).toEqual({});
  expect(hashValue(['a', '1', 'b', '2'], 'k')).toEqual({ a: '1', b: '2' });
  // RESP3's list of pairs for scores, as ioredis 6 may hand it.
  expect(
    scoredMembers(
      [
        ['x', 5],
        ['y', '7.5'],
      ],
      'k',
    ),
  ).toEqual([
    ['x', 5],
    ['y', 7.5],
  ]);
});

describe('a value of another shape is a RedisShapeError naming the key, never the value', () => {
  let key: string;
  let values: unknown[];

  beforeAll(async () => {
    key = testPrefix('shape');
    await redis.set(`${key}:s`, 'secret-value');
    await redis.rpush(`${key}:l`, 'one', 'two', 'three');
    await redis.hset(`${key}:h`, { field: 'secret-value' });
    await redis.zadd(`${key}:z`, 5, 'x', '+inf', 'forever');
    // Each command's real reply, handed below to a reader of another command.
    ({ values } = await execAll(
      redis.pipeline().get(`${key}:s`).lrange(`${key}:l`, 0, -1).hgetall(`${key}:h`).zrange(`${key}:z`, '0', '-1', 'WITHSCORES').zrange(`${key}:z`, '0', '-1'),
    ));
  });

  const expectShapeError = (read: () => unknown, name: string, expected: RegExp) => {
    let error: unknown;
    try {
      read();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RedisShapeError);
    expect(error).toMatchObject({ code: 'ERR_REDIS_SHAPE', key: name });
    expect((error as Error).message).toContain(name);
    expect((error as Error).message).toMatch(expected);
    expect((error as Error).message).not.toContain('secret-value');
  };

  it('hashValue: a string, a list of odd length, a field that is not a string, nothing', () => {
    expectShapeError(() => hashValue(values[0], `${key}:s`), `${key}:s`, /not a hash/);
    expectShapeError(() => hashValue(values[1], `${key}:l`), `${key}:l`, /not a hash/);
    expectShapeError(() => hashValue({ a: 1 }, `${key}:h`), `${key}:h`, /not a hash/);
    expectShapeError(() => hashValue(undefined, `${key}:h`), `${key}:h`, /not a hash/);
    expectShapeError(() => hashValue(null, `${key}:h`), `${key}:h`, /not a hash/);
  });

  it('scoredMembers: a score that is not finite, members without scores, a hash, nothing', () => {
    expectShapeError(() => scoredMembers(values[3], `${key}:z`), `${key}:z`, /finite scores/);
    // ['x', 'forever'] without WITHSCORES: a member read as a score.
    expectShapeError(() => scoredMembers(values[4], `${key}:z`), `${key}:z`, /finite scores/);
    expectShapeError(() => scoredMembers(values[1], `${key}:l`), `${key}:l`, /finite scores/);
    expectShapeError(() => scoredMembers(values[2], `${key}:h`), `${key}:h`, /finite scores/);
    expectShapeError(() => scoredMembers(['x', ''], `${key}:z`), `${key}:z`, /finite scores/);
    expectShapeError(() => scoredMembers(null, `${key}:z`), `${key}:z`, /finite scores/);
  });

  it('stringValue, stringList and fieldValues: a list, a hash, a number, the wrong count', () => {
    expectShapeError(() => stringValue(values[1], `${key}:l`), `${key}:l`, /not a string/);
    expectShapeError(() => stringValue(3, `${key}:s`), `${key}:s`, /not a string/);
    expectShapeError(() => stringValue(undefined, `${key}:s`), `${key}:s`, /not a string/);
    expectShapeError(() => stringList(values[0], `${key}:s`), `${key}:s`, /not a list of strings/);
    expectShapeError(() => stringList(values[2], `${key}:h`), `${key}:h`, /not a list of strings/);
    expectShapeError(() => stringList([1, 2], `${key}:l`), `${key}:l`, /not a list of strings/);
    expectShapeError(() => stringList(undefined, `${key}:l`), `${key}:l`, /not a list of strings/);
    expectShapeError(() => fieldValues(values[1], ['a', 'b'], `${key}:l`), `${key}:l`, /list of 2/);
    expectShapeError(() => fieldValues(values[2], ['field'], `${key}:h`), `${key}:h`, /list of 1/);
  });

  it('redisTimeMs: anything but two strings of digits is refused as TIME', () => {
    for (const reply of [null, ['1'], ['x', '1'], [1700000000, 1], ['1.5', '2'], ['', '1']]) expectShapeError(() => redisTimeMs(reply), 'TIME', /TIME/);
  });

  it('without a key name the error still says what was expected', () => {
    expect(() => hashValue('x')).toThrow(/Redis answered a read with a value that is not a hash/);
  });
});
