import type { Clock } from '../../shared/clock';
import type { Config } from '../../shared/config/compile';
import { ConfigError, type Requirement } from '../../shared/config/load';
import { closeRedis, connectOrExplain, createRedis, describeRedis } from '../../shared/redis/connection';
import { ProjectKeys } from '../../shared/redis/keys';
import { fail, pass, type CheckResult } from './check-result';
import { checkJournalDir, checkKeys, checkNodeIp } from './local-checks';
import { checkAuthServer, checkManagementCenter } from './network-checks';
import { checkClock, checkCredential, checkRedisSettings } from './redis-checks';
import { checkRedisUser } from './redis-user-check';
import { checkRedisVersion } from './redis-version';

/**
 * Everything a node needs, checked in the order an operator would fix it:
 * configuration, keys, the journal directory, node IP, Redis (reachable, version, persistence, eviction, clock), the
 * stored credential, the Redis user's rights (deploy/redis/), the authorization server (DNS, TCP, proxy, TLS), the management
 * center (optional). A check that cannot run because an earlier one failed is a
 * failure that says so. No line ever holds a password, a proxy credential or key material.
 */
export interface DoctorOptions {
  loadConfig(require: Requirement[]): Config;
  clock: Clock;
  /** Checked as an optional line; the seed names https://cloud.fanruan.com. */
  managementUrl: string;
}

function loadForDoctor(o: DoctorOptions): { cfg: Config | null; result: CheckResult } {
  const title = 'configuration';
  try {
    const cfg = o.loadConfig(['daemon']);
    return { cfg, result: pass('config', title, `valid for the daemon: project ${cfg.project}, node ${cfg.node.id}`) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const result = fail(
      'config',
      title,
      error.problems.join('; '),
      'correct the keys named (configuration file or CLOUDAUTH_* variables; see docs/configuration.md)',
    );
    // Keep checking what the valid part allows (a missing product.version does not stop the Redis checks).
    try {
      return { cfg: o.loadConfig([]), result };
    } catch {
      return { cfg: null, result };
    }
  }
}

async function redisChecks(cfg: Config, clock: Clock): Promise<CheckResult[]> {
  const where = describeRedis(cfg.redis);
  const redis = createRedis(cfg.redis, { purpose: 'cli', lazyConnect: true, connectionName: 'fdl-cloudauth-doctor' });
  redis.on('error', () => undefined);
  try {
    try {
      await connectOrExplain(redis, cfg.redis);
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      return [
        fail('redis', 'Redis reachable', `${where}: ${cause}`, 'check redis.url (CLOUDAUTH_REDIS_URL), the network and Redis itself'),
        fail('credential', 'stored credential', 'not checked: Redis unreachable', 'fix Redis first'),
      ];
    }
    const results: CheckResult[] = [pass('redis', 'Redis reachable', where)];
    results.push(await checkRedisVersion(redis));
    results.push(...(await checkRedisSettings(redis)));
    results.push(await checkClock(redis, clock));
    if (cfg.project) {
      const keys = new ProjectKeys(cfg.redis.keyPrefix, cfg.project);
      results.push(await checkCredential(redis, keys, cfg));
      results.push(...(await checkRedisUser(redis, keys)));
    } else results.push(fail('credential', 'stored credential', 'not checked: no project configured', 'set project (CLOUDAUTH_PROJECT)'));
    return results;
  } finally {
    await closeRedis(redis);
  }
}

export async function runDoctor(o: DoctorOptions): Promise<CheckResult[]> {
  const { cfg, result } = loadForDoctor(o);
  if (!cfg) return [result, fail('not-run', 'other checks', 'not run: the configuration does not load', 'fix the configuration first')];
  return [
    result,
    ...checkKeys(cfg),
    checkJournalDir(cfg),
    checkNodeIp(cfg),
    ...(await redisChecks(cfg, o.clock)),
    ...(await checkAuthServer(cfg)),
    await checkManagementCenter(cfg, o.managementUrl),
  ];
}

/** Exit 0 only when every required check passed. */
export function allRequiredPass(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.ok || !r.required);
}
