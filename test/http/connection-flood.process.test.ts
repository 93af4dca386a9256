import { writeFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { closeAllAuthServers, createAccount, request, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { flood, untilClosed } from '../support/slow-client';
import { writeCertificates, type CertificateFiles } from '../../harness/tls';
import { waitFor } from '../../harness/wait';

/**
 * A connection flood against the real servers over real TLS (issue 28, item 1): a
 * sidecar with a web configuration (TLS and basic auth), a plain sidecar, and the
 * reference server on TLS. Before, a TLS socket that never started its handshake held
 * its slot for Node's default 120 s, and silent connections from a few addresses held
 * every one of the 256 slots: every /healthz and scrape was refused (ECONNRESET), and a
 * kubelet restarted the pod.
 *
 * Now a silent TLS socket is closed at the header deadline (10 s), each source address
 * holds at most 32 connections, and 16 slots beyond the 256 are kept for addresses that
 * hold fewer than two. Eight addresses (127.0.0.2–127.0.0.9) keep 40 silent connections
 * each open — re-opened as soon as the server closes one — and /healthz (from an
 * address of its own) and a scrape still answer.
 */
jest.setTimeout(150_000);

const PASSWORD = 'flood-Account-Pw-5';
const WEB_PASSWORD = 'flood-Web-Pw-8';
const FLOODERS = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
const PROBE_ADDRESS = '127.0.0.100';
let files: CertificateFiles;
let fixture: ProjectFixture;
let auth: ChildAuthServer;
const sidecars: Record<string, Sidecar> = {};

beforeAll(async () => {
  files = writeCertificates();
  const redis = await startRedis();
  const tlsEnv = { CLOUDAUTH_AUTHSERVER_TLS_CERT: files.certFile, CLOUDAUTH_AUTHSERVER_TLS_KEY: files.keyFile };
  auth = await spawnAuthServer({ redisUrl: redis.url, env: tlsEnv });
  await createAccount(auth.url, auth.token, { account: 'flood', password: PASSWORD, capacity: 4 }, files.pems.caPem);
  fixture = await registerProject({
    project: 'flood',
    keyPrefix: testPrefix('flood'),
    redisUrl: redis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'flood',
    password: PASSWORD,
  });
  const webConfig = path.join(files.dir, 'web.yml');
  writeFileSync(
    webConfig,
    `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prometheus: ${bcrypt.hashSync(WEB_PASSWORD, 10)}\n`,
  );
  const env = { CLOUDAUTH_AUTH_CA_FILE: files.caFile };
  sidecars.tls = await startSidecar(fixture, {
    nodeId: 'flood-tls',
    web: { ca: files.pems.caPem, user: 'prometheus', password: WEB_PASSWORD },
    env: { ...env, CLOUDAUTH_WEB_CONFIG_FILE: webConfig },
  });
  sidecars.plain = await startSidecar(fixture, { nodeId: 'flood-plain', env });
});
afterAll(async () => {
  await Promise.all(Object.values(sidecars).map((s) => s.stop()));
  await closeAllAuthServers();
  await disposeAllRedis();
  files?.remove();
});

it('closes a TLS socket that never starts its handshake at the header deadline, on the sidecar and the reference server', async () => {
  const sidecar = await untilClosed((sidecars.tls as Sidecar).port, () => undefined);
  const reference = await untilClosed(auth.port, () => undefined);
  console.log(`silent TLS socket closed after: sidecar ${sidecar.ms} ms, reference server ${reference.ms} ms (header deadline 10 s; before: 120 s)`);
  expect(sidecar.answer).toBe('');
  expect(reference.answer).toBe('');
}, 60_000);

type Target = { name: string; port: () => number; base: () => string; ca?: string; scrape?: () => Promise<number> };
const targets: Target[] = [
  {
    name: 'the TLS sidecar (basic auth)',
    port: () => (sidecars.tls as Sidecar).port,
    base: () => `https://127.0.0.1:${(sidecars.tls as Sidecar).port}`,
    scrape: async () => (await (sidecars.tls as Sidecar).get('/metrics')).status,
  },
  {
    name: 'the plain sidecar',
    port: () => (sidecars.plain as Sidecar).port,
    base: () => `http://127.0.0.1:${(sidecars.plain as Sidecar).port}`,
    scrape: async () => (await (sidecars.plain as Sidecar).get('/metrics')).status,
  },
  { name: 'the TLS reference server', port: () => auth.port, base: () => auth.url },
];

it.each(targets)('answers /healthz and a scrape from another address while eight addresses flood $name', async (t) => {
  const attack = flood(t.port(), FLOODERS, 40);
  try {
    // The flood holds the whole main pool: 8 addresses × 32 (before: 256 of 256 by the global cap).
    await waitFor('the flood to hold 256 connections', () => attack.held() >= 256, 30_000, 50);
    for (let i = 0; i < 3; i++) {
      // From an address of its own, as a kubelet's probe comes: 127.0.0.1 is also where
      // the two sidecars keep their connections to the reference server (keep-alive, up
      // to 4 each), and an address holding two or more is not given the reserve.
      const health = await request(t.base(), '/healthz', { ca: files.pems.caPem, timeoutMs: 5000, localAddress: PROBE_ADDRESS });
      expect(health.status).toBe(200);
      if (t.scrape) expect(await t.scrape()).toBe(200);
    }
    console.log(`${t.name}: flood holding ${attack.held()} connections; /healthz${t.scrape ? ' and a scrape' : ''} answered 3 times`);
  } finally {
    attack.stop();
  }
});
