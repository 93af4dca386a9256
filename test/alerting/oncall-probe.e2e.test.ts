import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LEADER_ENV } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { startOnCallChain, type OnCallChain } from '../support/oncall-chain';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { registerProject, startSidecar, testKeyDir, type Sidecar } from '../../harness/sidecar';
import { makeCertificates } from '../../harness/tls';

/**
 * The early warning end to end: two sidecars with a 1 h heartbeat and a 1 s probe of
 * the reference server over HTTPS, Prometheus and Alertmanager with the shipped files.
 * The server goes away; AuthServerUnreachable reaches the team receiver while no
 * heartbeat has failed (the next one is an hour away). The time from the block to the
 * notification is printed.
 */
jest.setTimeout(120_000);

const PASSWORD = 'probe e2e password';
const PROJECT = 'probe-e2e';
const ACCOUNT = 'acct-probe';

const sidecars: Sidecar[] = [];
let chain: OnCallChain | undefined;
const tlsDir = mkdtempSync(path.join(os.tmpdir(), 'fdl-probe-e2e-'));

afterAll(async () => {
  await chain?.stop();
  await Promise.all(sidecars.map((s) => s.stop()));
  await closeAllAuthServers();
  await disposeAllRedis();
  rmSync(tlsDir, { recursive: true, force: true });
});

it('fires AuthServerUnreachable within a few probes of the server going away, before any heartbeat fails', async () => {
  const certs = makeCertificates();
  const files = { ca: path.join(tlsDir, 'ca.pem'), cert: path.join(tlsDir, 'cert.pem'), key: path.join(tlsDir, 'key.pem') };
  writeFileSync(files.ca, certs.caPem);
  writeFileSync(files.cert, certs.certPem);
  writeFileSync(files.key, certs.keyPem, { mode: 0o600 });
  const notAfterSeconds = Math.floor(Date.parse(new X509Certificate(certs.certPem).validTo) / 1000);

  const redis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: redis.url, env: { CLOUDAUTH_AUTHSERVER_TLS_CERT: files.cert, CLOUDAUTH_AUTHSERVER_TLS_KEY: files.key } });
  expect(auth.url).toMatch(/^https:/);
  await createAccount(auth.url, auth.token, { account: ACCOUNT, password: PASSWORD, capacity: 5 }, certs.caPem);
  const f = await registerProject({
    project: PROJECT,
    keyPrefix: testPrefix('probe'),
    redisUrl: redis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: ACCOUNT,
    password: PASSWORD,
  });
  const env = { CLOUDAUTH_AUTH_CA_FILE: files.ca, CLOUDAUTH_PROBE_INTERVAL: '1s', ...LEADER_ENV, CLOUDAUTH_LOG_LEVEL: 'info' };
  sidecars.push(...(await Promise.all([1, 2].map((n) => startSidecar(f, { nodeId: `node-${n}`, interval: '1h', env })))));

  chain = await startOnCallChain(sidecars.map((s) => s.port));
  const { prometheus: prom, receiver: hook } = chain;

  // Both nodes authenticated once (at start) and their probes reach the server.
  await waitFor(
    'Prometheus to see both nodes authenticated and reaching the server',
    async () => {
      const ok = await prom.query(`fdl_cloudauth_authserver_reachable{project="${PROJECT}"} == 1`);
      const attempts = await prom.query(`fdl_cloudauth_authentications_total{project="${PROJECT}"} >= 1`);
      return ok.length === 2 && attempts.length === 2;
    },
    60_000,
    250,
  );
  const expiry = await prom.query(`fdl_cloudauth_authserver_tls_expiry_timestamp_seconds{project="${PROJECT}"}`);
  expect(expiry.map((s) => Number(s.value[1]))).toEqual([notAfterSeconds, notAfterSeconds]);

  // The server goes away (as behind a new firewall rule): nothing accepts connections.
  const blockedAt = Date.now();
  await auth.close();
  const warning = await hook.next(
    'AuthServerUnreachable at the team receiver',
    (n) =>
      n.path.endsWith('/warning') &&
      n.groupLabels.project === PROJECT &&
      n.alerts.filter((a) => a.labels.alertname === 'AuthServerUnreachable' && a.status === 'firing').length === 2,
    60_000,
  );
  expect(
    warning.alerts
      .filter((a) => a.labels.alertname === 'AuthServerUnreachable')
      .map((a) => a.labels.node)
      .sort(),
  ).toEqual(['node-1', 'node-2']);

  // No heartbeat has failed: the next attempts are an hour away.
  expect(await prom.query(`sum(fdl_cloudauth_authentication_failures_total{project="${PROJECT}"}) > 0`)).toEqual([]);
  expect((await prom.query(`fdl_cloudauth_node_consecutive_failures{project="${PROJECT}"}`)).map((s) => s.value[1])).toEqual(['0', '0']);
  for (const s of sidecars) expect(s.output()).toMatch(/"step":"tcp","detail":"connection refused".*Authorization server unreachable/);

  console.log(
    `early warning (probe every 1 s, scrape and evaluation 1 s, for: 2 s, heartbeat 1 h): server gone -> AuthServerUnreachable at the team receiver in ${((warning.receivedAt - blockedAt) / 1000).toFixed(1)} s, no heartbeat failed`,
  );
});
