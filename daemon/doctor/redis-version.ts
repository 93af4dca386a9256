import type { RedisClient } from '../../shared/redis/connection';
import { fail, pass, type CheckResult } from './check-result';

/**
 * `doctor`'s Redis version line: the version of every Redis server the sidecar writes
 * to (the standalone server, the primary Sentinel names, each node of a Cluster), read
 * from INFO server, against the oldest release fdl-cloudauth supports
 * (docs/operations.md, "Redis versions"). A warning, not a failure: an older Redis may
 * well work, but nothing older is tested.
 */

/**
 * The oldest Redis release supported: the oldest the test suite runs on (Debian 12's
 * redis-server 7.0.15 — standalone, Sentinel and Cluster, TLS and ACL users). BullMQ
 * itself refuses a Redis older than 5.0 and recommends 6.2; Redis before 6.0 has no TLS
 * and no ACL users, before 6.2 no ACL users for Sentinel.
 */
export const MIN_REDIS_VERSION = '7.0.0';

/** The `redis_version` field of an INFO reply, or null when it has none. */
export function redisVersionOf(info: string): string | null {
  return /^redis_version:([0-9][0-9A-Za-z.+-]*)\s*$/m.exec(info)?.[1] ?? null;
}

/** major.minor.patch as numbers; a missing part is 0 ("7.0" = 7.0.0). */
function parts(version: string): number[] {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0);
  return [major, minor, patch];
}

/** Whether `version` is older than `minimum` (numeric, by major, minor and patch). */
export function isOlder(version: string, minimum: string): boolean {
  const a = parts(version);
  const b = parts(minimum);
  for (let i = 0; i < 3; i += 1) {
    if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) < (b[i] as number);
  }
  return false;
}

const TITLE = 'Redis version';
const SHOWN_MIN = MIN_REDIS_VERSION.replace(/\.0$/, '');

/** The line for the versions found: one server, or the nodes of a Cluster (the oldest decides). */
export function redisVersionResult(versions: readonly string[]): CheckResult {
  if (versions.length === 0) {
    return fail(
      'redis-version',
      TITLE,
      'INFO server names no redis_version',
      `check that the server is Redis ${SHOWN_MIN} or newer (see docs/operations.md, Redis versions)`,
      false,
    );
  }
  const sorted = [...new Set(versions)].sort((a, b) => (isOlder(a, b) ? -1 : isOlder(b, a) ? 1 : 0));
  const oldest = sorted[0] as string;
  const shown = versions.length === 1 ? `Redis ${oldest}` : `${versions.length} Redis Cluster nodes, ${sorted.join(', ')}`;
  if (!isOlder(oldest, MIN_REDIS_VERSION)) return pass('redis-version', TITLE, `${shown} (supported: ${SHOWN_MIN} or newer)`, false);
  return fail(
    'redis-version',
    TITLE,
    `${shown}: Redis ${oldest} is older than ${SHOWN_MIN}, the oldest release fdl-cloudauth is tested on`,
    `upgrade Redis to ${SHOWN_MIN} or newer, a release with the 2025 security fixes (see docs/operations.md, Redis versions)`,
    false,
  );
}

/** What the check asks: a server's INFO, or a Cluster's nodes (ioredis' Redis and Cluster are both). */
export interface InfoServer {
  info(section: 'server'): Promise<string>;
}
export interface ClusterNodes {
  nodes(role: 'all'): InfoServer[];
}

export async function checkRedisVersion(redis: RedisClient | InfoServer | ClusterNodes): Promise<CheckResult> {
  let infos: string[];
  try {
    // A Cluster is asked node by node: INFO goes to one node only.
    infos =
      'nodes' in redis && typeof redis.nodes === 'function'
        ? await Promise.all((redis as ClusterNodes).nodes('all').map((node) => node.info('server')))
        : [await (redis as InfoServer).info('server')];
  } catch (error) {
    return fail(
      'redis-version',
      TITLE,
      `INFO server is not allowed on this Redis (${(error as Error).message})`,
      `check in your Redis provider's console that it runs Redis ${SHOWN_MIN} or newer (see docs/operations.md, Redis versions)`,
      false,
    );
  }
  return redisVersionResult(infos.map(redisVersionOf).filter((v): v is string => v !== null));
}
