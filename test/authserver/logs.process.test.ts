import { testPrefix } from '../../harness/redis-server';
import { waitFor } from '../../harness/wait';
import { authenticate, boundNodes, createAccount, request, spawnAuthServer, startInProcessAuthServer, unbind } from '../../harness/authserver';
import { useRedisForAuthServers } from '../support/authserver-suite';

/**
 * Logs of the reference server: one line per request with the fields operators need,
 * and never a password or the admin token, whatever path a request takes. Also the
 * real `fdl-cloudauth authserver` process: its output, the 24 h rule through the
 * admin clock, and a graceful SIGTERM that lets an in-flight request finish.
 */
const suite = useRedisForAuthServers();

const SECRETS = {
  token: 'admin-TOKEN-do-not-log-5b1e8f',
  passwords: ['Pa55word-ALPHA-never-logged', 'Pa55word-BETA-never-logged'],
  wrong: 'Wrong-PASSWORD-never-logged',
};

function expectNoSecrets(output: string): void {
  expect(output.length).toBeGreaterThan(0);
  for (const secret of [SECRETS.token, ...SECRETS.passwords, SECRETS.wrong]) expect(output).not.toContain(secret);
  // Nor anything derived from them.
  expect(output).not.toContain('scrypt$');
}

describe('authserver logs', () => {
  it('write one line per request and never a password or the admin token', async () => {
    const server = await startInProcessAuthServer({ redisUrl: suite.redis.url, token: SECRETS.token, logLevel: 'debug' });
    const { url } = server;
    const [alpha, beta] = SECRETS.passwords as [string, string];
    await createAccount(url, SECRETS.token, { account: 'alpha', password: alpha, capacity: 2, allowedIps: ['10.0.0.0/8'] });
    await createAccount(url, SECRETS.token, { account: 'beta', password: beta, status: 'disabled' });
    expect((await authenticate(url, { account: 'alpha', password: alpha, nodeId: 'n1' })).json?.code).toBe(0);
    expect((await authenticate(url, { account: 'alpha', password: SECRETS.wrong, nodeId: 'n1' })).json?.code).toBe(30006);
    expect((await authenticate(url, { account: 'beta', password: beta, nodeId: 'n2' })).json?.code).toBe(30002);
    expect((await authenticate(url, { account: 'alpha', password: alpha, nodeId: 'n3', ip: '11.0.0.1' })).json?.code).toBe(30003);
    expect((await request(url, '/v1/authenticate', { body: `{"account":"alpha","password":"${alpha}",` })).json?.code).toBe(10000);
    expect((await request(url, '/v1/authenticate', { body: { account: 'alpha', password: alpha } })).json?.code).toBe(10001);
    expect((await unbind(url, { account: 'alpha', password: alpha, nodeId: 'n1' })).json?.code).toBe(0);
    expect((await request(url, '/admin/accounts/alpha', { token: SECRETS.token })).status).toBe(200);
    expect((await request(url, '/admin/accounts/alpha', { token: SECRETS.wrong })).status).toBe(401);
    expect((await request(url, '/admin/accounts', { body: { account: 'x', password: SECRETS.wrong }, token: SECRETS.token })).status).toBe(400);
    expect((await request(url, '/admin/faults', { body: { mode: 'redis', nodes: ['n9'] }, token: SECRETS.token })).status).toBe(200);
    expect((await authenticate(url, { account: 'alpha', password: alpha, nodeId: 'n9' })).json?.code).toBe(20002);
    expect((await request(url, '/admin/faults', { method: 'DELETE', token: SECRETS.token })).status).toBe(200);
    expect((await request(url, '/admin/accounts/beta', { method: 'DELETE', token: SECRETS.token })).status).toBe(200);
    await server.close();

    const output = server.logLines.join('\n');
    expectNoSecrets(output);
    const lines = server.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request answered');
    expect(requests).toHaveLength(16);
    for (const line of requests) {
      expect(line).toMatchObject({
        part: 'authserver',
        method: expect.any(String),
        path: expect.any(String),
        status: expect.any(Number),
        ms: expect.any(Number),
      });
    }
    expect(requests).toContainEqual(expect.objectContaining({ path: '/v1/authenticate', status: 200, code: 30006, account: 'alpha', nodeId: 'n1' }));
    expect(requests).toContainEqual(expect.objectContaining({ path: '/admin/accounts/alpha', status: 401, code: 401 }));
    expect(lines.some((l) => l.msg === 'authorization server listening')).toBe(true);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('fdl-cloudauth authserver (child process)', () => {
  it('serves, applies the 24 h rule through the admin clock, never logs secrets, and stops gracefully on SIGTERM', async () => {
    const keyPrefix = testPrefix('child');
    const child = await spawnAuthServer({ redisUrl: suite.redis.url, keyPrefix, token: SECRETS.token, env: { CLOUDAUTH_LOG_LEVEL: 'debug' } });
    const { url } = child;
    const [alpha] = SECRETS.passwords as [string];
    const a = { account: 'child@example.com', password: alpha };
    await createAccount(url, SECRETS.token, { ...a, capacity: 1 });
    expect((await authenticate(url, { ...a, nodeId: 'old' })).json?.code).toBe(0);
    expect((await authenticate(url, { ...a, password: SECRETS.wrong, nodeId: 'old' })).json?.code).toBe(30006);
    expect((await authenticate(url, { ...a, nodeId: 'new' })).json?.code).toBe(30007);
    expect((await request(url, '/admin/clock', { body: { offsetMs: 24 * 3600_000 }, token: SECRETS.token })).status).toBe(200);
    expect((await authenticate(url, { ...a, nodeId: 'new' })).json?.code).toBe(0);
    expect(await boundNodes(url, SECRETS.token, a.account)).toEqual(['new']);
    expect((await request(url, '/admin/faults', { token: 'not-the-token' })).status).toBe(401);

    // A request in flight when SIGTERM arrives is still answered; then the process exits 0.
    await request(url, '/admin/faults', { body: { mode: 'delay', ms: 1500 }, token: SECRETS.token });
    const inFlight = authenticate(url, { ...a, nodeId: 'new' });
    await waitFor('the delayed request to reach the server', () => child.stdout().includes('injected delay started'), 10_000);
    const exit = child.stop('SIGTERM');
    await waitFor('the server to begin stopping', () => child.stdout().includes('"to":"stopping"'), 10_000);
    await expect(request(url, '/admin/faults', { token: SECRETS.token, timeoutMs: 2000 })).rejects.toThrow();
    expect((await inFlight).json?.code).toBe(0);
    expect(await exit).toBe(0);
    expect(child.stdout()).toContain('"to":"stopped"');

    expectNoSecrets(child.stdout() + child.stderr());
    expect(child.stderr()).toBe('');
  });
});
