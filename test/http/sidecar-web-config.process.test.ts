import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { Gauge, Registry } from 'prom-client';
import { SidecarServer } from '../../daemon/http/sidecar-server';
import { loadWebConfig, WebConfigError, type WebConfig } from '../../daemon/http/web-config';
import { createLogger } from '../../shared/logger';
import { request } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { findPrometheus, startPrometheus, type TestPrometheus } from '../support/prometheus';
import { holdConnections, trickle, untilClosed } from '../support/slow-client';
import { writeCertificates, type CertificateFiles } from '../../harness/tls';

/**
 * The sidecar's endpoints behind a web configuration file in Prometheus'
 * exporter-toolkit format: TLS, optional client certificates, basic auth with bcrypt
 * hashes; 401 for a missing or wrong credential on every path but the probes; deadlines and a
 * connection cap; and a real Prometheus scraping over TLS with basic auth, its
 * `scrape_config` written as for any exporter.
 */
jest.setTimeout(90_000);

const USER = 'prometheus';
const PASSWORD = 'scrape-Pw-9xQ';
const HASH = bcrypt.hashSync(PASSWORD, 10);
let files: CertificateFiles;
let dir: string;
const servers: SidecarServer[] = [];
const logLines: string[] = [];
const logger = createLogger({
  level: 'debug',
  destination: new Writable({
    write(chunk: Buffer, _e, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  }),
});

beforeAll(() => {
  files = writeCertificates();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-webcfg-'));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  files.remove();
  rmSync(dir, { recursive: true, force: true });
});

function webConfigFile(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function startServer(webConfig: WebConfig | undefined, limits = {}): Promise<SidecarServer> {
  const registry = new Registry();
  new Gauge({ name: 'fdl_web_config_test', help: 'a metric to scrape', registers: [registry] }).set(42);
  const server = new SidecarServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    logger,
    readiness: () => ({ ready: true, checks: {} }),
    status: () => Promise.resolve({ project: 'p', leader: { host: 'node-1', pid: 1234 } }),
    webConfig,
    limits,
  });
  await server.start();
  servers.push(server);
  return server;
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('TLS and basic auth from the web configuration file', () => {
  let server: SidecarServer;
  let base: string;
  beforeAll(async () => {
    // Relative file names are relative to the web configuration file, as in exporter-toolkit.
    writeFileSync(path.join(dir, 'server.pem'), files.pems.certPem);
    writeFileSync(path.join(dir, 'server.key'), files.pems.keyPem);
    const file = webConfigFile('web.yml', `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  ${USER}: ${HASH}\n`);
    server = await startServer(loadWebConfig(file));
    base = `https://127.0.0.1:${server.port}`;
  });

  it('answers 401 with a Basic challenge on every path but the probes without credentials, or with wrong ones', async () => {
    for (const pathname of ['/metrics', '/status', '/', '/no-such-page']) {
      const none = await request(base, pathname, { ca: files.pems.caPem });
      expect([pathname, none.status]).toEqual([pathname, 401]);
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm="fdl-cloudauth"/);
      expect(none.text).not.toContain('node-1');
    }
    expect((await request(base, '/metrics', { ca: files.pems.caPem, headers: basic(USER, 'wrong') })).status).toBe(401);
    expect((await request(base, '/metrics', { ca: files.pems.caPem, headers: basic('nobody', PASSWORD) })).status).toBe(401);
    expect((await request(base, '/metrics', { ca: files.pems.caPem, headers: { authorization: 'Bearer x' } })).status).toBe(401);
  });

  it('answers the health probes without credentials, over TLS only', async () => {
    // Kubelets, Docker and systemd have no password: the probes say only alive / ready.
    for (const pathname of ['/healthz', '/readyz']) {
      const probe = await request(base, pathname, { ca: files.pems.caPem });
      expect([pathname, probe.status]).toEqual([pathname, 200]);
      expect(probe.text).not.toContain('node-1');
    }
    await expect(request(`http://127.0.0.1:${server.port}`, '/healthz', { timeoutMs: 5000 })).rejects.toThrow();
  });

  it('serves with the right credentials, twice (the second from the verified cache)', async () => {
    for (let i = 0; i < 2; i++) {
      const ok = await request(base, '/metrics', { ca: files.pems.caPem, headers: basic(USER, PASSWORD) });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('fdl_web_config_test 42');
    }
    expect((await request(base, '/status', { ca: files.pems.caPem, headers: basic(USER, PASSWORD) })).json).toBeDefined();
  });

  it('speaks nothing in clear on its port', async () => {
    await expect(request(`http://127.0.0.1:${server.port}`, '/metrics', { headers: basic(USER, PASSWORD), timeoutMs: 5000 })).rejects.toThrow();
  });

  it('never logs the password or the hash', () => {
    const log = logLines.join('');
    expect(log).toContain('HTTP request with wrong credentials refused');
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain(HASH);
    expect(log).not.toContain(HASH.slice(7));
  });
});

describe('client certificates', () => {
  it('RequireAndVerifyClientCert refuses a client without a certificate', async () => {
    const file = webConfigFile(
      'mtls.yml',
      `tls_server_config:\n  cert_file: ${files.certFile}\n  key_file: ${files.keyFile}\n  client_ca_file: ${files.caFile}\n  client_auth_type: RequireAndVerifyClientCert\n`,
    );
    const config = loadWebConfig(file);
    expect(config.tls?.clientAuth).toBe('RequireAndVerifyClientCert');
    const server = await startServer(config);
    const base = `https://127.0.0.1:${server.port}`;
    await expect(request(base, '/metrics', { ca: files.pems.caPem, timeoutMs: 5000 })).rejects.toThrow();
    const https = await import('node:https');
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(`${base}/metrics`, { ca: files.pems.caPem, cert: files.pems.clientCertPem, key: files.pems.clientKeyPem, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(status).toBe(200);
  });
});

describe('web configuration errors', () => {
  const problems = (text: string) => {
    try {
      loadWebConfig(webConfigFile(`bad-${Math.random().toString(36).slice(2)}.yml`, text));
    } catch (error) {
      expect(error).toBeInstanceOf(WebConfigError);
      expect((error as WebConfigError).exitCode).toBe(2);
      return (error as Error).message;
    }
    throw new Error('no error');
  };

  it('names each problem, and never repeats what may be a password', () => {
    expect(problems('basic_auth_user:\n  a: b\n')).toMatch(
      /unknown key basic_auth_user \(exporter-toolkit knows: tls_server_config, http_server_config, rate_limit, basic_auth_users\)/,
    );
    const plain = problems('basic_auth_users:\n  prometheus: plain-Text-Pw\n');
    expect(plain).toMatch(/basic_auth_users\.prometheus is not a bcrypt hash .*htpasswd -nBC 10 prometheus/);
    expect(plain).not.toContain('plain-Text-Pw');
    expect(problems('tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n')).toMatch(
      /tls_server_config\.cert_file: \/nonexistent\.pem cannot be read/,
    );
    expect(problems(`tls_server_config:\n  cert_file: ${files.certFile}\n  key_file: ${files.keyFile}\n  client_ca_file: ${files.caFile}\n`)).toMatch(
      /client CA's have been configured without a Client Auth Policy: set client_auth_type/,
    );
    expect(problems('basic_auth_users: [\n  "secret-In-Bad-Yaml\n')).toMatch(/is not valid YAML \(line \d+, column \d+\)/);
    expect(problems('basic_auth_users: [\n  "secret-In-Bad-Yaml\n')).not.toContain('secret-In-Bad-Yaml');
  });
});

describe('deadlines and the connection cap of the sidecar endpoints', () => {
  it('closes a silent socket and a slow-header one within the configured deadlines, and caps connections', async () => {
    const server = await startServer(undefined, { headersTimeoutMs: 1000, requestTimeoutMs: 2000, idleTimeoutMs: 1500, maxConnections: 3 });
    const silent = await untilClosed(server.port, () => undefined);
    const slow = await untilClosed(server.port, (s) => trickle(s, 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'a', 200));
    expect(slow.answer).toMatch(/^HTTP\/1\.1 408/);
    console.log(`sidecar endpoint closed after: silent ${silent.ms} ms, slow headers ${slow.ms} ms (configured 1 s headers, 1.5 s idle)`);
    const held = await holdConnections(server.port, 3);
    const extra = await untilClosed(server.port, (s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(extra.answer).toBe('');
    for (const socket of held) socket.destroy();
  });
});

describe('a real Prometheus scraping over TLS with basic auth', () => {
  let prometheus: TestPrometheus | undefined;
  afterAll(async () => {
    await prometheus?.stop();
  });

  it('scrapes with the right credentials (up 1) and fails with wrong ones (up 0)', async () => {
    findPrometheus();
    const server = await startServer(
      loadWebConfig(
        webConfigFile(
          'prom-web.yml',
          `tls_server_config:\n  cert_file: ${files.certFile}\n  key_file: ${files.keyFile}\nbasic_auth_users:\n  ${USER}: ${HASH}\n`,
        ),
      ),
    );
    const job = (name: string, password: string) =>
      [
        `  - job_name: ${name}`,
        '    scheme: https',
        '    tls_config:',
        `      ca_file: ${files.caFile}`,
        '    basic_auth:',
        `      username: ${USER}`,
        `      password: ${password}`,
        '    static_configs:',
        `      - targets: ['127.0.0.1:${server.port}']`,
      ].join('\n');
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      job('right', PASSWORD),
      job('wrong', 'not-the-password'),
      '',
    ].join('\n');
    prometheus = await startPrometheus({ config, rules: 'groups: []\n' });
    const p = prometheus;
    await waitFor('Prometheus to scrape both jobs', async () => (await p.query('up')).length === 2, 30_000, 250);
    await waitFor(
      'the metric scraped over TLS with basic auth',
      async () => (await p.query('fdl_web_config_test{job="right"}'))[0]?.value[1] === '42',
      30_000,
      250,
    );
    const up = Object.fromEntries((await p.query('up')).map((s) => [s.metric.job, s.value[1]]));
    expect(up).toEqual({ right: '1', wrong: '0' });
  });
});
