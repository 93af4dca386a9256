import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection';

/**
 * Reading Redis replies in one way. ioredis types a pipeline's or a transaction's reply
 * as `[Error | null, unknown][] | null`; every reader used to unwrap it, cast it and
 * turn TIME into milliseconds by hand. These helpers do it once: `execAll` runs a batch
 * and hands back its values (throwing the first error a caller does not tolerate),
 * and the small readers below turn a value into the type a command promises, so a
 * reply of another shape is an error here rather than a NaN further on.
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

/** Redis TIME's reply ([seconds, microseconds], as strings) in milliseconds. */
export function redisTimeMs(reply: unknown): number {
  if (!Array.isArray(reply) || reply.length !== 2) throw new TypeError('Redis TIME answered something other than [seconds, microseconds]');
  const [seconds, micros] = reply.map(Number) as [number, number];
  if (!Number.isFinite(seconds) || !Number.isFinite(micros)) throw new TypeError('Redis TIME answered a value that is not a number');
  return seconds * 1000 + Math.floor(micros / 1000);
}

/** Redis's own clock, in ms: the time every recorded time is measured by. */
export async function readRedisTimeMs(redis: RedisClient): Promise<number> {
  return redisTimeMs(await redis.time());
}

/** An HGETALL value (a missing key is an empty hash). */
export function hashValue(value: unknown): Record<string, string> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, string>) : {};
}

/** A GET/HGET value: the string, or null for a missing key or field. */
export function stringValue(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** A ZRANGE/ZREVRANGE … WITHSCORES value as [member, score] pairs, in Redis's order. */
export function scoredMembers(value: unknown): Array<[string, number]> {
  const flat = Array.isArray(value) ? (value as string[]) : [];
  const pairs: Array<[string, number]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([String(flat[i]), Number(flat[i + 1])]);
  return pairs;
}

/** An LRANGE/ZRANGE value without scores. */
export function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}
