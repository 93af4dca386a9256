import { makeCertificates } from '../../harness/tls';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { authenticate, createAccount, request, startInProcessAuthServer } from '../../harness/authserver';
import { useRedisForAuthServers } from '../support/authserver-suite';

/**
 * HTTPS: with authserver.tlsCert and tlsKey set the server speaks TLS; a client that
 * trusts the CA authenticates, one that does not is refused by TLS.
 */
const suite = useRedisForAuthServers();

describe('authserver over HTTPS', () => {
  it('authenticates over TLS with the right CA and is refused without it', async () => {
    const { caPem, certPem, keyPem } = makeCertificates();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-tls-'));
    writeFileSync(path.join(dir, 'cert.pem'), certPem);
    writeFileSync(path.join(dir, 'key.pem'), keyPem, { mode: 0o600 });
    const server = await startInProcessAuthServer({
      redisUrl: suite.redis.url,
      env: { CLOUDAUTH_AUTHSERVER_TLS_CERT: path.join(dir, 'cert.pem'), CLOUDAUTH_AUTHSERVER_TLS_KEY: path.join(dir, 'key.pem') },
    });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const a = { account: 'tls@example.com', password: 'tls-password-1' };
    await createAccount(server.url, server.token, a, caPem);
    const answer = await authenticate(server.url, { ...a, nodeId: 'secure' }, caPem);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ code: 0, data: { capacity: 1, bound: 1 } });

    await expect(request(server.url, '/v1/authenticate', { body: {} })).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    // Plain HTTP to the TLS port is not an answer either.
    await expect(request(server.url.replace('https:', 'http:'), '/v1/authenticate', { body: {}, timeoutMs: 3000 })).rejects.toThrow();
    // And the server still serves after both.
    expect((await authenticate(server.url, { ...a, nodeId: 'secure' }, caPem)).json?.code).toBe(0);
    await server.close();
  });

  it('refuses to start when a TLS file cannot be read, naming the key', async () => {
    await expect(
      startInProcessAuthServer({
        redisUrl: suite.redis.url,
        env: { CLOUDAUTH_AUTHSERVER_TLS_CERT: '/nonexistent/cert.pem', CLOUDAUTH_AUTHSERVER_TLS_KEY: '/nonexistent/key.pem' },
      }),
    ).rejects.toThrow(/authserver\.tlsCert.*\n.*authserver\.tlsKey/s);
  });
});
