import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { disposeAllRedis, startRedis, type TestRedis } from './support/redis-server';
import { authenticate, closeAllAuthServers, createAccount, request, startInProcessAuthServer } from './support/authserver';

/**
 * HTTPS: with authserver.tlsCert and tlsKey set the server speaks TLS; a client that
 * trusts the CA authenticates, one that does not is refused by TLS.
 */
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await closeAllAuthServers();
  await disposeAllRedis();
});

/** A CA and a server certificate for 127.0.0.1 / localhost signed by it. */
function makeCertificates(): { caPem: string; certPem: string; keyPem: string } {
  const now = new Date();
  const later = new Date(now.getTime() + 24 * 3600_000);
  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = '01';
  ca.validity.notBefore = new Date(now.getTime() - 60_000);
  ca.validity.notAfter = later;
  const caName = [{ name: 'commonName', value: 'fdl-cloudauth test CA' }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '02';
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = later;
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer(caName);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(ca), certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

describe('authserver over HTTPS', () => {
  it('authenticates over TLS with the right CA and is refused without it', async () => {
    const { caPem, certPem, keyPem } = makeCertificates();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-tls-'));
    writeFileSync(path.join(dir, 'cert.pem'), certPem);
    writeFileSync(path.join(dir, 'key.pem'), keyPem, { mode: 0o600 });
    const server = await startInProcessAuthServer({
      redisUrl: redis.url,
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
        redisUrl: redis.url,
        env: { CLOUDAUTH_AUTHSERVER_TLS_CERT: '/nonexistent/cert.pem', CLOUDAUTH_AUTHSERVER_TLS_KEY: '/nonexistent/key.pem' },
      }),
    ).rejects.toThrow(/authserver\.tlsCert.*\n.*authserver\.tlsKey/s);
  });
});
