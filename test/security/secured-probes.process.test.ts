import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { cleanEnv, createAccount, request, spawnAuthServer, TEST_ADMIN_TOKEN, type ChildAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { track } from '../../harness/process-registry';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { registerProject, startSidecar, testKeyDir, type Sidecar } from '../../harness/sidecar';
import { writeCertificates, type CertificateFiles } from '../../harness/tls';

/**
 * A real sidecar process with TLS and basic auth on (CLOUDAUTH_WEB_CONFIG_FILE): its
 * health probes stay green without a password — what a kubelet (httpGet, scheme HTTPS)
 * and the image's HEALTHCHECK (dist/daemon/http/health-probe.js) ask — while
 * everything else still needs the password; and the file is re-read while it runs: a
 * user added works without a restart, a broken file leaves the last good one in force
 * and says so in a log line and a metric.
 */
jest.setTimeout(90_000);

const PASSWORD = 'probe-Web-Pw-61';
const ADDED = 'added-Web-Pw-62';
let files: CertificateFiles;
let auth: ChildAuthServer | undefined;
let sidecar: Sidecar | undefined;

afterAll(async () => {
  await sidecar?.stop();
  await auth?.stop();
  await disposeAllRedis();
  files?.remove();
});

function healthProbe(port: number, pathname: string, webConfigFile: string): Promise<number | null> {
  const child = spawn(process.execPath, [path.resolve(__dirname, '../../dist/daemon/http/health-probe.js'), pathname], {
    env: cleanEnv({ CLOUDAUTH_HTTP_PORT: String(port), CLOUDAUTH_WEB_CONFIG_FILE: webConfigFile }),
    stdio: 'ignore',
  });
  track(child);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

it('keeps its probes green with TLS and basic auth on, and re-reads the web configuration when it changes', async () => {
  files = writeCertificates();
  const redis = await startRedis();
  auth = await spawnAuthServer({ redisUrl: redis.url });
  await createAccount(auth.url, TEST_ADMIN_TOKEN, { account: 'probes', password: 'acct-Pw-63', capacity: 2 });
  const fixture = await registerProject({
    project: 'probes',
    keyPrefix: testPrefix('probes'),
    redisUrl: redis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'probes',
    password: 'acct-Pw-63',
  });
  const webConfig = path.join(files.dir, 'web.yml');
  const tls = 'tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n';
  writeFileSync(webConfig, `${tls}basic_auth_users:\n  prometheus: ${bcrypt.hashSync(PASSWORD, 10)}\n`);
  sidecar = await startSidecar(fixture, {
    nodeId: 'probe-1',
    web: { ca: files.pems.caPem, user: 'prometheus', password: PASSWORD },
    env: { CLOUDAUTH_WEB_CONFIG_FILE: webConfig },
  });
  const s = sidecar;
  const base = `https://127.0.0.1:${s.port}`;
  const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

  // What a kubelet's httpGet probe with scheme HTTPS does: TLS, no password, no client certificate.
  await waitFor(
    '/readyz to answer 200 without credentials',
    async () => (await request(base, '/readyz', { ca: files.pems.caPem })).status === 200,
    40_000,
    200,
  );
  expect((await request(base, '/healthz', { ca: files.pems.caPem })).status).toBe(200);
  expect(await healthProbe(s.port, '/healthz', webConfig)).toBe(0);
  expect(await healthProbe(s.port, '/readyz', webConfig)).toBe(0);
  expect((await request(base, '/metrics', { ca: files.pems.caPem })).status).toBe(401);
  expect((await request(base, '/status', { ca: files.pems.caPem })).status).toBe(401);
  const metrics = await request(base, '/metrics', { ca: files.pems.caPem, headers: basic('prometheus', PASSWORD) });
  expect(metrics.text).toContain('fdl_cloudauth_web_config_last_reload_successful 1');

  // A user added while running works at its first request, without a restart.
  expect((await request(base, '/metrics', { ca: files.pems.caPem, headers: basic('grafana', ADDED) })).status).toBe(401);
  writeFileSync(webConfig, `${tls}basic_auth_users:\n  prometheus: ${bcrypt.hashSync(PASSWORD, 10)}\n  grafana: ${bcrypt.hashSync(ADDED, 10)}\n`);
  await waitFor(
    'the added user to be let in',
    async () => (await request(base, '/metrics', { ca: files.pems.caPem, headers: basic('grafana', ADDED) })).status === 200,
    20_000,
    200,
  );
  expect(s.output()).toContain('web configuration reloaded');

  // A broken file: the last good configuration stays, and the failure is logged and exported.
  writeFileSync(webConfig, `${tls}basic_auth_users:\n  prometheus: not-a-hash-${PASSWORD}\n`);
  const after = await request(base, '/metrics', { ca: files.pems.caPem, headers: basic('grafana', ADDED) });
  expect(after.status).toBe(200);
  expect(after.text).toContain('fdl_cloudauth_web_config_last_reload_successful 0');
  expect(s.output()).toMatch(/"msg":"web configuration reload failed"/);
  expect(s.output()).toContain('basic_auth_users.prometheus is not a bcrypt hash');
  expect(await healthProbe(s.port, '/healthz', webConfig)).toBe(0);
  // Neither password reaches the log, not even the one written where a hash belongs.
  expect(s.output()).not.toContain(PASSWORD);
  expect(s.output()).not.toContain(ADDED);
});
