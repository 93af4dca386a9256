import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection';

/**
 * Reading Redis replies in one way. ioredis types a pipeline's or a transaction's reply
 * as `[Error | null, unknown][] | null`; every reader used to unwrap it, cast it and
 * turn TIME into milliseconds by hand. These helpers do it once: `execAll` runs a batch
 * and hands back its values (throwing the first error a caller does not tolerate),
 * and the small readers below turn a value into the type a command promises. Each
 * checks the shape it claims and throws RedisShapeError naming the key (never the
 * value: a hash may hold a ciphertext) when the reply is of another shape, so a wrong
 * reply is an error here rather than an empty record or a NaN further on. A value
 * `execAll` tolerated (undefined) is no reply at all: the caller tests `tolerated`
 * before reading it.
 */

/** A value per command of the batch; `undefined` where the command's error was tolerated. */
export interface BatchValues {
  values: unknown[];
  /** Indexes of the commands whose error was tolerated. */
  tolerated: ReadonlySet<number>;
}

/**
 * Runs a pipeline or MULTI and returns its values. An error of a command makes the
 * whole read fail (the first such error is thrown) unless `tolerate(error, index)`
 * says the caller handles it: its value is then `undefined` and its index is in
 * `tolerated` (a key of the wrong type to report as damage, SPEC §4).
 */
export async function execAll(batch: ChainableCommander, tolerate?: (error: Error, index: number) => boolean): Promise<BatchValues> {
  const reply = await batch.exec();
  // ioredis answers null when a MULTI is discarded (a WATCHed key changed).
  if (!reply) throw new Error('Redis discarded the batch');
  const tolerated = new Set<number>();
  const values = reply.map(([error, value], i) => {
    if (!error) return value;
    if (!tolerate?.(error, i)) throw error;
    tolerated.add(i);
    return undefined;
  });
  return { values, tolerated };
}

/**
 * A reply that is not of the shape its command promises (a reader below was handed the
 * wrong value, or Redis answered in another protocol). Names the key or command —
 * never the value, which may be a secret.
 */
export class RedisShapeError extends TypeError {
  readonly code = 'ERR_REDIS_SHAPE';

  constructor(
    /** The key (or the command, for TIME and CONFIG GET) whose reply it was; undefined when the caller did not say. */
    readonly key: string | undefined,
    /** What the reply should have been. */
    readonly expected: string,
  ) {
    super(`Redis answered ${key === undefined ? 'a read' : key} with a value that is not ${expected}`);
    this.name = 'RedisShapeError';
  }
}

/** A decimal string of digits as Redis writes an integer, or a finite number (RESP3). */
function finite(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string' || value.trim() !== value || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** Redis TIME's reply ([seconds, microseconds], as strings of digits) in milliseconds. */
export function redisTimeMs(reply: unknown): number {
  if (!Array.isArray(reply) || reply.length !== 2) throw new RedisShapeError('TIME', '[seconds, microseconds]');
  const [seconds, micros] = reply;
  const digits = (v: unknown) => typeof v === 'string' && /^\d{1,16}$/.test(v);
  if (!digits(seconds) || !digits(micros)) throw new RedisShapeError('TIME', 'a pair of numbers');
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Redis's own clock, in ms: the time every recorded time is measured by. */
export async function readRedisTimeMs(redis: RedisClient): Promise<number> {
  return redisTimeMs(await redis.time());
}

/**
 * An HGETALL value: the object of string fields ioredis makes of it (a missing key is
 * `{}`), or a flat [field, value, ...] list of strings (the raw reply).
 */
export function hashValue(value: unknown, key?: string): Record<string, string> {
  const expected = 'a hash (string fields and values)';
  if (Array.isArray(value)) {
    if (value.length % 2 !== 0) throw new RedisShapeError(key, expected);
    const hash: Record<string, string> = {};
    for (let i = 0; i < value.length; i += 2) {
      const [field, fieldValue] = [value[i], value[i + 1]];
      if (typeof field !== 'string' || typeof fieldValue !== 'string') throw new RedisShapeError(key, expected);
      hash[field] = fieldValue;
    }
    return hash;
  }
  if (value === null || typeof value !== 'object') throw new RedisShapeError(key, expected);
  const hash: Record<string, string> = {};
  for (const [field, fieldValue] of Object.entries(value)) {
    if (typeof fieldValue !== 'string') throw new RedisShapeError(key, expected);
    hash[field] = fieldValue;
  }
  return hash;
}

/** A GET/HGET value: the string, or null for a missing key or field. */
export function stringValue(value: unknown, key?: string): string | null {
  if (value === null || typeof value === 'string') return value;
  throw new RedisShapeError(key, 'a string or nothing');
}

/** An HMGET value: each field's string, or null where the field is missing, by field name. */
export function fieldValues<F extends string>(value: unknown, fields: readonly F[], key?: string): Record<F, string | null> {
  if (!Array.isArray(value) || value.length !== fields.length || !value.every((v) => v === null || typeof v === 'string'))
    throw new RedisShapeError(key, `a list of ${fields.length} strings or nothing`);
  const out = {} as Record<F, string | null>;
  fields.forEach((field, i) => {
    const fieldValue: unknown = value[i];
    out[field] = typeof fieldValue === 'string' ? fieldValue : null;
  });
  return out;
}

/**
 * A ZRANGE/ZREVRANGE … WITHSCORES value as [member, score] pairs, in Redis's order:
 * the flat [member, score, ...] list of RESP2, or RESP3's list of pairs. Every score is
 * a finite number (a zset of this product holds times in ms).
 */
export function scoredMembers(value: unknown, key?: string): Array<[string, number]> {
  const expected = 'a list of members with finite scores';
  if (!Array.isArray(value)) throw new RedisShapeError(key, expected);
  const pair = (member: unknown, score: unknown): [string, number] => {
    const n = finite(score);
    if (typeof member !== 'string' || n === null) throw new RedisShapeError(key, expected);
    return [member, n];
  };
  if (value.every((item) => Array.isArray(item) && item.length === 2)) return value.map((item: unknown[]) => pair(item[0], item[1]));
  if (value.length % 2 !== 0) throw new RedisShapeError(key, expected);
  const pairs: Array<[string, number]> = [];
  for (let i = 0; i < value.length; i += 2) pairs.push(pair(value[i], value[i + 1]));
  return pairs;
}

/** An LRANGE/ZRANGE value without scores (a CONFIG GET reply too): a list of strings. */
export function stringList(value: unknown, key?: string): string[] {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new RedisShapeError(key, 'a list of strings');
}
