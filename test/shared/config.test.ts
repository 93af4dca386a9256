import { loadConfig, ConfigError } from '../../shared/config/load';
import { defaultRedisNotice } from '../../daemon/cli/cli-redis';
import { parseDuration } from '../../shared/duration';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

describe('configuration', () => {
  it('compiles durations to milliseconds and applies defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.heartbeat.intervalMs).toBe(2 * 3600_000);
    expect(c.leader.leaseMs).toBe(15_000);
    expect(c.leader.renewMs).toBe(5_000);
    expect(c.authServer.timeoutMs).toBe(30_000);
    expect(c.heartbeat.failureThreshold).toBe(12);
    expect(c.heartbeat.retries).toBe(2);
    expect(c.cluster.failurePolicy).toBe('any');
    expect(c.http.port).toBe(9464);
    expect(c.authserver.port).toBe(8443);
    expect(c.node.appName).toBe('webroot');
    expect(Object.isFrozen(c.heartbeat)).toBe(true);
  });

  it('takes defaults < file < environment < flags', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ project: 'from-file', heartbeat: { interval: '10m', retries: 5 }, http: { port: 1111 } }));
    const c = loadConfig({ file, env: { CLOUDAUTH_HEARTBEAT_INTERVAL: '20m', CLOUDAUTH_HTTP_PORT: '2222' }, overrides: { 'http.port': 3333 } });
    expect(c.project).toBe('from-file');
    expect(c.heartbeat.retries).toBe(5);
    expect(c.heartbeat.intervalMs).toBe(20 * 60_000);
    expect(c.http.port).toBe(3333);
  });

  it('knows whether redis.url was given anywhere, so a CLI without its environment file can say it uses the default', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const withUrl = path.join(dir, 'with-url.json');
    const without = path.join(dir, 'without.json');
    writeFileSync(withUrl, JSON.stringify({ redis: { url: 'redis://127.0.0.1:6379' } }));
    writeFileSync(without, JSON.stringify({ project: 'p' }));
    expect(loadConfig({ env: {} }).redis.urlIsDefault).toBe(true);
    expect(loadConfig({ file: without, env: {} }).redis.urlIsDefault).toBe(true);
    // Given, even as the default's own value: nothing to say.
    expect(loadConfig({ file: withUrl, env: {} }).redis.urlIsDefault).toBe(false);
    expect(loadConfig({ env: { CLOUDAUTH_REDIS_URL: 'redis://127.0.0.1:6379' } }).redis.urlIsDefault).toBe(false);
    expect(loadConfig({ env: {}, overrides: { 'redis.url': 'redis://10.0.0.1:6379' } }).redis.urlIsDefault).toBe(false);
    // Sentinel or Cluster: the URL only carries the password, the hosts are given.
    expect(loadConfig({ env: { CLOUDAUTH_REDIS_SENTINELS: 's1:26379' } }).redis.urlIsDefault).toBe(false);

    const notice = defaultRedisNotice(loadConfig({ env: {} }).redis);
    expect(notice).toContain('redis://127.0.0.1:6379');
    expect(notice).toContain('CLOUDAUTH_REDIS_URL');
    expect(notice).toContain('/etc/fdl-cloudauth/env');
    expect(defaultRedisNotice(loadConfig({ env: { CLOUDAUTH_REDIS_URL: 'redis://10.0.0.1:6379' } }).redis)).toBeNull();
  });

  it('lists every invalid key in one error, naming key and environment variable', () => {
    let error: unknown;
    try {
      loadConfig({
        env: {
          CLOUDAUTH_HEARTBEAT_INTERVAL: '2 fortnights',
          CLOUDAUTH_HTTP_PORT: 'abc',
          CLOUDAUTH_FAILURE_POLICY: 'some',
          CLOUDAUTH_REDIS_URL: 'http://user:hunter2@example.com',
        },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const err = error as ConfigError;
    expect(err.exitCode).toBe(2);
    expect(err.problems).toHaveLength(4);
    expect(err.message).toContain('heartbeat.interval (CLOUDAUTH_HEARTBEAT_INTERVAL)');
    expect(err.message).toContain('http.port (CLOUDAUTH_HTTP_PORT)');
    expect(err.message).toContain('cluster.failurePolicy (CLOUDAUTH_FAILURE_POLICY)');
    expect(err.message).toContain('redis.url (CLOUDAUTH_REDIS_URL)');
    // A sensitive value is never echoed back.
    expect(err.message).not.toContain('hunter2');
  });

  it('reports schema problems and what the command requires in one message (a bad interval beside a missing project and URL)', () => {
    let error: unknown;
    try {
      loadConfig({ env: { CLOUDAUTH_HEARTBEAT_INTERVAL: 'bogus', CLOUDAUTH_PRODUCT_VERSION: '4.1.5' }, require: ['daemon'] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems } = error as ConfigError;
    expect(problems).toEqual([
      expect.stringContaining('heartbeat.interval (CLOUDAUTH_HEARTBEAT_INTERVAL): "bogus" is not a duration'),
      expect.stringContaining('project (CLOUDAUTH_PROJECT): is required'),
      expect.stringContaining('authServer.url (CLOUDAUTH_AUTH_SERVER_URL): is required'),
    ]);
  });

  it('does not report a key the schema found invalid a second time from the cross-checks', () => {
    // The bad project name is checked on its default (empty) afterwards: not "is required" too.
    let error: unknown;
    try {
      loadConfig({ env: { CLOUDAUTH_PROJECT: 'no spaces allowed' }, require: ['project'] });
    } catch (e) {
      error = e;
    }
    const { problems } = error as ConfigError;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^project \(CLOUDAUTH_PROJECT\): /);
    expect(problems[0]).not.toContain('is required');
  });

  it("keeps the reference server's password hash cost within 14 to 17, 17 unless set", () => {
    expect(loadConfig({ env: {} }).authserver.passwordHashCost).toBe(17);
    expect(loadConfig({ env: { CLOUDAUTH_AUTHSERVER_PASSWORD_HASH_COST: '14' } }).authserver.passwordHashCost).toBe(14);
    for (const cost of ['13', '18']) {
      expect(() => loadConfig({ env: { CLOUDAUTH_AUTHSERVER_PASSWORD_HASH_COST: cost } })).toThrow(
        "authserver.passwordHashCost (CLOUDAUTH_AUTHSERVER_PASSWORD_HASH_COST): must be a whole number from 14 to 17 (scrypt's N is 2 to this power; 17 unless this is a test)",
      );
    }
  });

  it('checks what a command requires, all at once', () => {
    expect(() => loadConfig({ env: {}, require: ['daemon', 'authserver'] })).toThrow(
      expect.objectContaining({
        problems: expect.arrayContaining([
          expect.stringContaining('project (CLOUDAUTH_PROJECT): is required'),
          expect.stringContaining('product.version (CLOUDAUTH_PRODUCT_VERSION): is required'),
          expect.stringContaining('authServer.url (CLOUDAUTH_AUTH_SERVER_URL): is required'),
          expect.stringContaining('authserver.adminToken (CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN): is required'),
        ]),
      }),
    );
  });

  it('rejects unknown keys in a file, a renew over half the lease, plain HTTP off loopback and an unreadable CA file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ heartbaet: { interval: '1h' } }));
    expect(() => loadConfig({ file, env: {} })).toThrow(/heartbaet/);
    expect(() => loadConfig({ env: { CLOUDAUTH_LEADER_RENEW: '10s' } })).toThrow(/leader\.renew.*at most half of leader\.lease/);
    const daemonEnv = { CLOUDAUTH_PROJECT: 'p', CLOUDAUTH_PRODUCT_VERSION: '4.1.5' };
    expect(() => loadConfig({ env: { ...daemonEnv, CLOUDAUTH_AUTH_SERVER_URL: 'http://register.example.com' }, require: ['daemon'] })).toThrow(
      /plain HTTP .* unencrypted/,
    );
    expect(() => loadConfig({ env: { ...daemonEnv, CLOUDAUTH_AUTH_SERVER_URL: 'http://127.0.0.1:8443' }, require: ['daemon'] })).not.toThrow();
    expect(() => loadConfig({ env: { CLOUDAUTH_AUTH_CA_FILE: '/nonexistent/ca.pem' } })).toThrow(/authServer\.caFile .*cannot be read/);
  });

  it('explains a missing or unreadable config file', () => {
    expect(() => loadConfig({ file: '/nonexistent/c.json', env: {} })).toThrow(/does not exist/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{ project: ');
    expect(() => loadConfig({ file, env: {} })).toThrow(/is not valid JSON/);
  });

  it('names a syntax error by line and column and never echoes the text around it (issue 28: it quoted the admin token)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const file = path.join(dir, 'token.json');
    const token = 'Adm1n-T0ken-Secret-9f8e7d';
    const cases: Array<[string, string]> = [
      [`{\n  "authserver": {\n    "adminToken": ${token}\n  }\n}\n`, 'line 3, column 19'],
      [`{\n  "authserver": { "adminToken": "${token}" },\n}\n`, 'line 3, column 1'],
      [`{"authserver": {"adminToken": "${token}"}} ${token}`, 'line 1, column 61'],
      [`{"authserver": {"adminToken": "${token}`, 'line 1, column 57'],
    ];
    for (const [text, where] of cases) {
      writeFileSync(file, text);
      let message = '';
      try {
        loadConfig({ file, env: {} });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`is not valid JSON (${where})`);
      for (let i = 0; i + 4 <= token.length; i++) expect(message).not.toContain(token.slice(i, i + 4));
    }
  });

  it('takes the proxy from HTTPS_PROXY unless configured, and never for a loopback server', () => {
    expect(loadConfig({ env: { HTTPS_PROXY: 'http://proxy:3128', CLOUDAUTH_AUTH_SERVER_URL: 'https://register.fanruan.com' } }).authServer.proxy).toBe(
      'http://proxy:3128',
    );
    expect(loadConfig({ env: { HTTPS_PROXY: 'http://proxy:3128', CLOUDAUTH_AUTH_SERVER_URL: 'http://127.0.0.1:8443' } }).authServer.proxy).toBe('');
    expect(loadConfig({ env: { HTTPS_PROXY: 'http://proxy:3128', CLOUDAUTH_AUTH_PROXY: 'http://other:8080' } }).authServer.proxy).toBe('http://other:8080');
  });

  it('parses the duration forms of SPEC §7', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('15s')).toBe(15_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration(250)).toBe(250);
    expect(() => parseDuration('2 hours')).toThrow(/not a duration/);
  });
});
