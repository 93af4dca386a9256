import type { Clock } from '../../shared/clock';
import type { Config } from '../../shared/config/compile';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { readRedisTimeMs, stringList } from '../../shared/redis/replies';
import { decryptCredential, readCredential } from '../credentials/credential-store';
import { fail, pass, type CheckResult } from './check-result';

/**
 * Checks that need Redis: the settings the Redis guidance of docs/operations.md asks
 * for, the clock offset to Redis, and whether the stored credential opens with this
 * node's keys (the password itself is never shown).
 */

/** The node clock may differ from Redis time by this much: TLS and the license's dates need a synced clock. */
export const MAX_CLOCK_OFFSET_MS = 60_000;

/** A setting's value; null when CONFIG GET is refused (a managed Redis) or the setting is unknown. */
async function configValue(redis: RedisClient, name: string): Promise<string | null> {
  let reply: unknown;
  try {
    reply = await redis.call('CONFIG', 'GET', name);
  } catch {
    return null;
  }
  // [name, value] (an empty list for a setting this Redis does not know).
  return stringList(reply, `CONFIG GET ${name}`)[1] ?? null;
}

export async function checkRedisSettings(redis: RedisClient): Promise<CheckResult[]> {
  const unknown = (id: string, title: string) =>
    fail(
      id,
      title,
      'CONFIG GET is not allowed on this Redis',
      "check the setting in your Redis provider's console (see docs/operations.md, Redis for production)",
      false,
    );
  const results: CheckResult[] = [];
  const appendonly = await configValue(redis, 'appendonly');
  if (appendonly === null) results.push(unknown('redis-persistence', 'Redis persistence'));
  else if (appendonly === 'yes') results.push(pass('redis-persistence', 'Redis persistence', 'appendonly yes (AOF)'));
  else
    results.push(
      fail(
        'redis-persistence',
        'Redis persistence',
        `appendonly is "${appendonly}": a restart loses schedules, results and the credential`,
        'set `appendonly yes` (CONFIG SET appendonly yes, and in redis.conf)',
      ),
    );
  const policy = await configValue(redis, 'maxmemory-policy');
  if (policy === null) results.push(unknown('redis-eviction', 'Redis eviction policy'));
  else if (policy === 'noeviction') results.push(pass('redis-eviction', 'Redis eviction policy', 'maxmemory-policy noeviction'));
  else
    results.push(
      fail(
        'redis-eviction',
        'Redis eviction policy',
        `maxmemory-policy is "${policy}": Redis may evict a schedule, a result or the credential`,
        'set `maxmemory-policy noeviction` (CONFIG SET, and in redis.conf)',
      ),
    );
  return results;
}

export async function checkClock(redis: RedisClient, clock: Clock): Promise<CheckResult> {
  const offsetMs = clock.now() - (await readRedisTimeMs(redis));
  const shown = `${offsetMs >= 0 ? '+' : ''}${(offsetMs / 1000).toFixed(1)} s`;
  if (Math.abs(offsetMs) <= MAX_CLOCK_OFFSET_MS) return pass('clock', 'clock offset to Redis', `${shown} (within ${MAX_CLOCK_OFFSET_MS / 1000} s)`);
  return fail(
    'clock',
    'clock offset to Redis',
    `this node's clock is ${shown} off Redis time`,
    'synchronize the clocks of the node and of Redis (chrony or systemd-timesyncd)',
  );
}

export async function checkCredential(redis: RedisClient, keys: ProjectKeys, cfg: Config): Promise<CheckResult> {
  const title = 'stored credential';
  const credential = await readCredential(redis, keys);
  if (!credential) {
    return fail(
      'credential',
      title,
      `no credential stored for project ${cfg.project}`,
      'run `fdl-cloudauth register --account NAME --password-stdin` once for the project',
    );
  }
  try {
    decryptCredential(credential, cfg.crypto.keyDir);
    return pass('credential', title, `opens with this node's ${credential.algorithm} key ${credential.keyId}`);
  } catch (error) {
    return fail(
      'credential',
      title,
      `does not open with this node's keys: ${(error as Error).message}`,
      'copy the key files register used to this node, or register again with this key pair',
    );
  }
}
