import { spawnSync } from 'node:child_process';
import { runCli, runProcess } from '../support/cli';
import { CLI_ENTRY } from '../../harness/authserver';

/**
 * Configuration errors through the real CLI process (`node dist/daemon/cli/main.js`):
 * every invalid key in one message, exit code 2, no secret echoed.
 */
describe('fdl-cloudauth CLI configuration', () => {
  it('--help lists the authserver command, and authserver --help its flags', async () => {
    const help = await runCli(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^\s+authserver\s+\S/m);
    const own = await runCli(['authserver', '--help'], {});
    expect(own.code).toBe(0);
    expect(own.stdout).toContain('--port N');
    expect(own.stdout).toContain('--host H');
  });

  it('authserver with several invalid CLOUDAUTH_* values lists every invalid key at once and exits 2', async () => {
    const result = await runCli(['authserver'], {
      CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: 'a-long-enough-token',
      CLOUDAUTH_AUTHSERVER_PORT: 'eighty',
      CLOUDAUTH_LOG_LEVEL: 'shouty',
      CLOUDAUTH_REDIS_URL: 'http://not-redis',
      CLOUDAUTH_HEARTBEAT_INTERVAL: '2 fortnights',
      CLOUDAUTH_REDIS_KEY_PREFIX: 'bad prefix!',
    });
    expect(result.code).toBe(2);
    for (const key of ['authserver.port', 'CLOUDAUTH_AUTHSERVER_PORT', 'log.level', 'redis.url', 'heartbeat.interval', 'redis.keyPrefix']) {
      expect(result.stderr).toContain(key);
    }
    expect(result.stderr).toContain('5 problems');
    expect(result.stdout).toBe('');
  });

  it('authserver without an admin token and with half a TLS pair names both problems and exits 2', async () => {
    const result = await runCli(['authserver'], { CLOUDAUTH_AUTHSERVER_TLS_CERT: '/tmp/cert.pem' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('authserver.adminToken (CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN)');
    expect(result.stderr).toContain('authserver.tlsKey');
    expect(result.stderr).toContain('2 problems');
  });

  it('a too short admin token is refused without echoing it; a bad --port flag is a config error', async () => {
    const short = await runCli(['authserver'], { CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: 'Zq7x' });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('authserver.adminToken');
    expect(short.stderr).not.toContain('Zq7x');

    const port = await runCli(['authserver', '--port', '70000'], { CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: 'a-long-enough-token' });
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('authserver.port');
    const notNumber = await runCli(['authserver', '--port', 'abc'], { CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: 'a-long-enough-token' });
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toContain('--port');
  });

  // The test never touches a Redis it did not start: where something listens on the
  // default port, the CLI runs in a network namespace of its own (unshare -n, as root),
  // where nothing does; without either, the case is skipped.
  const defaultPortFree = spawnSync('bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/6379'], { stdio: 'ignore' }).status !== 0;
  const ownNetwork = !defaultPortFree && spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  const statusWithout = (env: Record<string, string>) =>
    ownNetwork ? runProcess('unshare', ['-n', process.execPath, CLI_ENTRY, 'status'], env, { minimalEnv: true }) : runCli(['status'], env);
  (defaultPortFree || ownNetwork ? it : it.skip)('a command with no redis.url anywhere says it uses the default Redis, and how to set it', async () => {
    const bare = await statusWithout({ CLOUDAUTH_PROJECT: 'p' });
    expect(bare.code).toBe(3);
    expect(bare.stderr).toMatch(/^notice: redis\.url is not set, so this uses the default Redis redis:\/\/127\.0\.0\.1:6379\. Set CLOUDAUTH_REDIS_URL/);
    const given = await statusWithout({ CLOUDAUTH_PROJECT: 'p', CLOUDAUTH_REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(given.code).toBe(3);
    expect(given.stderr).not.toContain('notice:');
  });

  it('an unreachable Redis is exit 3, naming the Redis', async () => {
    const result = await runCli(['authserver', '--port', '0'], {
      CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: 'a-long-enough-token',
      CLOUDAUTH_REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('127.0.0.1:1');
  });
});
