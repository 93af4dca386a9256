import Redis from 'ioredis';
import { checkRedisVersion, isOlder, MIN_REDIS_VERSION, redisVersionOf, redisVersionResult } from '../../daemon/doctor/redis-version';
import { disposeAllRedis, startRedis } from '../../harness/redis-server';

/**
 * `doctor`'s Redis version line (docs/operations.md, "Redis versions"): it reads INFO
 * server from every server the sidecar writes to and warns — a line that does not fail
 * the exit code — below the oldest supported release.
 */

afterAll(async () => {
  await disposeAllRedis();
});

const info = (version: string) => `# Server\r\nredis_version:${version}\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\nos:Linux\r\n`;

describe('the Redis version check', () => {
  it('reads redis_version from INFO server', () => {
    expect(redisVersionOf(info('7.0.15'))).toBe('7.0.15');
    expect(redisVersionOf(info('8.10.2'))).toBe('8.10.2');
    expect(redisVersionOf('# Server\r\nvalkey_version:8.1.0\r\n')).toBeNull();
  });

  it('compares by major, minor and patch as numbers', () => {
    expect(MIN_REDIS_VERSION).toBe('7.0.0');
    expect(isOlder('6.2.18', '7.0.0')).toBe(true);
    expect(isOlder('7.0.0', '7.0.0')).toBe(false);
    expect(isOlder('7.0.15', '7.0.0')).toBe(false);
    expect(isOlder('10.0.0', '7.0.0')).toBe(false);
    expect(isOlder('7.0', '7.0.1')).toBe(true);
  });

  it('passes on the real redis-server the suite runs on', async () => {
    const server = await startRedis();
    const client = new Redis(server.clientOptions());
    try {
      const result = await checkRedisVersion(client);
      expect(result).toMatchObject({ id: 'redis-version', ok: true, required: false, fix: null });
      expect(result.detail).toMatch(/^Redis \d+\.\d+\.\d+ \(supported: 7\.0 or newer\)$/);
    } finally {
      client.disconnect();
    }
  });

  it('warns below the minimum with the reason and the fix, without failing the exit code', async () => {
    const result = await checkRedisVersion({ info: async () => info('6.2.14') });
    expect(result).toMatchObject({ id: 'redis-version', ok: false, required: false });
    expect(result.detail).toBe('Redis 6.2.14: Redis 6.2.14 is older than 7.0, the oldest release fdl-cloudauth is tested on');
    expect(result.fix).toContain('upgrade Redis to 7.0 or newer');
    expect(result.fix).toContain('docs/operations.md');
  });

  it('asks every node of a Cluster, and the oldest decides', async () => {
    const nodes = ['7.2.11', '6.2.20', '7.2.11'].map((v) => ({ info: async () => info(v) }));
    const result = await checkRedisVersion({ nodes: () => nodes });
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^3 Redis Cluster nodes, 6\.2\.20, 7\.2\.11: Redis 6\.2\.20 is older than 7\.0/);
    expect(redisVersionResult(['7.2.11', '8.10.2']).ok).toBe(true);
  });

  it('says so when INFO is refused or names no version', async () => {
    const refused = await checkRedisVersion({
      info: async () => {
        throw new Error("ERR unknown command 'INFO'");
      },
    });
    expect(refused).toMatchObject({ ok: false, required: false });
    expect(refused.detail).toContain('INFO server is not allowed');
    expect(refused.fix).toContain("provider's console");
    expect(redisVersionResult([])).toMatchObject({ ok: false, required: false, detail: 'INFO server names no redis_version' });
  });
});
