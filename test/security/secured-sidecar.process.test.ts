import { writeFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import Redis from 'ioredis';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { ProjectKeys } from '../../shared/redis/keys';
import type { StatusJson } from '../../daemon/view/status-json';
import { closeAllAuthServers, createAccount, request, spawnAuthServer } from '../../harness/authserver';
import { CaptureProxy } from '../support/capture-proxy';
import { waitFor } from '../../harness/wait';
import { disposeSecuredSentinels, startSecuredSentinel } from '../support/redis-sentinel';
import { disposeAllRedis, startRedis } from '../../harness/redis-server';
import { startSidecar, testKeyDir, type Sidecar } from '../../harness/sidecar';
import { writeCertificates, type CertificateFiles } from '../../harness/tls';

/**
 * The whole sidecar process secured end to end, every setting through its
 * environment variable: Redis reached through a Sentinel that serves TLS only and
 * requires a password (CLOUDAUTH_REDIS_SENTINEL_TLS, _SENTINEL_PASSWORD), the primary
 * it names over TLS with a password and a client certificate (rediss://,
 * CLOUDAUTH_REDIS_TLS_*), and the sidecar's own endpoints behind a web configuration
 * file (CLOUDAUTH_WEB_CONFIG_FILE). The project registers and authenticates; the
 * captures between the sidecar and Redis see only TLS; the endpoints refuse a request
 * without credentials; no secret reaches the sidecar's log.
 */
jest.setTimeout(90_000);

const REDIS_PASSWORD = 'e2e-redis-Pw-31';
const SENTINEL_PASSWORD = 'e2e-sentinel-Pw-47';
const ACCOUNT_PASSWORD = 'e2e-account-Pw-59';
const WEB_PASSWORD = 'e2e-web-Pw-83';
let files: CertificateFiles;
const proxies: CaptureProxy[] = [];
let sidecar: Sidecar | undefined;

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all(proxies.map((p) => p.close()));
  await closeAllAuthServers();
  await disposeSecuredSentinels();
  await disposeAllRedis();
  files?.remove();
});

async function proxyTo(port: number): Promise<CaptureProxy> {
  const proxy = new CaptureProxy(port);
  await proxy.start();
  proxies.push(proxy);
  return proxy;
}

it('registers and authenticates through a TLS Sentinel with passwords, its endpoints behind TLS and basic auth', async () => {
  files = writeCertificates();
  const primary = await startRedis({ tls: { files, clientCertificates: 'yes' }, password: REDIS_PASSWORD });
  const primaryProxy = await proxyTo(primary.port);
  const sentinel = await startSecuredSentinel({ primaryPort: primaryProxy.port, files, password: REDIS_PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
  const sentinelProxy = await proxyTo(sentinel.port);

  const authRedis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'e2e', password: ACCOUNT_PASSWORD, capacity: 2 });
  const keyPrefix = 'secured';
  const keys = new ProjectKeys(keyPrefix, 'sec');
  const admin = new Redis({ ...primary.clientOptions(), maxRetriesPerRequest: 1 });
  try {
    await registerCredential(admin, keys, { account: 'e2e', password: ACCOUNT_PASSWORD, keyDir: testKeyDir(), defaultAlgorithm: 'rsa' });
  } finally {
    admin.disconnect();
  }

  const webConfig = path.join(files.dir, 'web.yml');
  writeFileSync(
    webConfig,
    `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prometheus: ${bcrypt.hashSync(WEB_PASSWORD, 10)}\n`,
  );
  sidecar = await startSidecar(
    {
      project: 'sec',
      keyPrefix,
      keys,
      redisUrl: `rediss://:${REDIS_PASSWORD}@127.0.0.1:6379`,
      keyDir: testKeyDir(),
      authUrl: auth.url,
      account: 'e2e',
      password: ACCOUNT_PASSWORD,
    },
    {
      nodeId: 'sec-1',
      web: { ca: files.pems.caPem, user: 'prometheus', password: WEB_PASSWORD },
      env: {
        CLOUDAUTH_REDIS_SENTINELS: `127.0.0.1:${sentinelProxy.port}`,
        CLOUDAUTH_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
        CLOUDAUTH_REDIS_SENTINEL_TLS: 'true',
        CLOUDAUTH_REDIS_TLS_CA_FILE: files.caFile,
        CLOUDAUTH_REDIS_TLS_CERT_FILE: files.clientCertFile,
        CLOUDAUTH_REDIS_TLS_KEY_FILE: files.clientKeyFile,
        CLOUDAUTH_WEB_CONFIG_FILE: webConfig,
        CLOUDAUTH_HTTP_EXTERNAL_URL: 'https://sec-1.example.com',
      },
    },
  );
  const s = sidecar;
  await waitFor(
    'the project registered, the node authenticated',
    async () => {
      const view = JSON.parse((await s.get('/status')).text) as StatusJson;
      const node = view.nodes.find((n) => n.id === 'sec-1');
      return view.status === 'registered' && node?.status === 'ok' && node.lastSuccessAt !== null;
    },
    40_000,
    200,
  );
  const metrics = (await s.get('/metrics')).text;
  expect(metrics).toContain('fdl_cloudauth_');
  // The alerts' links follow TLS and http.externalUrl (issue 32): the sidecar says both.
  expect(metrics).toContain('fdl_cloudauth_web_info{project="sec",node="sec-1",scheme="https",external_url="https://sec-1.example.com/"} 1');
  // And it serves the runbook the links point into, behind the same TLS and basic auth.
  expect((await s.get('/runbook')).text).toContain('id="alert-registrationcritical"');
  expect((await request(`https://127.0.0.1:${s.port}`, '/runbook', { ca: files.pems.caPem })).status).toBe(401);

  const open = await request(`https://127.0.0.1:${s.port}`, '/status', { ca: files.pems.caPem });
  expect(open.status).toBe(401);
  expect(open.text).not.toContain('sec-1');

  for (const proxy of [primaryProxy, sentinelProxy]) {
    expect(proxy.sent.length).toBeGreaterThan(0);
    expect(proxy.allStartWithTlsHandshake()).toBe(true);
    for (const clear of [REDIS_PASSWORD, SENTINEL_PASSWORD, 'AUTH', 'HELLO']) expect(proxy.sawInClear(clear)).toBe(false);
  }
  const log = s.output();
  for (const secret of [REDIS_PASSWORD, SENTINEL_PASSWORD, ACCOUNT_PASSWORD, WEB_PASSWORD]) expect(log).not.toContain(secret);
  expect(log).toMatch(/"tls":true,"basicAuth":true,"msg":"HTTP server listening"/);
});
