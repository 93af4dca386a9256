import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { ReachabilityProbe } from '../../daemon/agent/reachability-probe';
import { probeReachability } from '../../daemon/protocol/reachability';
import { createLogger, type Logger } from '../../shared/logger';
import { FakeClock } from '../../harness/fake-clock';
import { freePort } from '../../harness/ports';
import { waitFor } from '../../harness/wait';
import { startConnectProxy, startTlsServer, type Closable } from '../support/probe-servers';
import { makeCertificates } from '../../harness/tls';

/**
 * The reachability probe (DNS, TCP, TLS through the proxy, no authentication) against
 * real servers on loopback: reachable, refused, an untrusted certificate, an unknown
 * host, through a CONNECT proxy (with and without credentials, and refusing), and the
 * metrics and log lines of the agent's periodic probe, whose timer runs on a fake clock.
 */
jest.setTimeout(30_000);

const certs = makeCertificates();
const notAfter = Date.parse(new X509Certificate(certs.certPem).validTo);
const open: Closable[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

async function tlsServer() {
  const server = await startTlsServer(certs.certPem, certs.keyPem);
  open.push(server);
  return server;
}

describe('probeReachability', () => {
  it('reaches a TLS server whose chain the CA file trusts, and reports the certificate expiry', async () => {
    const server = await tlsServer();
    const result = await probeReachability({ url: `https://127.0.0.1:${server.port}`, ca: certs.caPem, timeoutMs: 5000 });
    expect(result).toMatchObject({ reachable: true, failedStep: null, via: `127.0.0.1:${server.port}` });
    expect(result.certificate).toEqual({ notAfter, subject: 'localhost', issuer: 'fdl-cloudauth test CA' });
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('checks the name: localhost resolves through DNS and matches the certificate', async () => {
    const server = await tlsServer();
    const result = await probeReachability({ url: `https://localhost:${server.port}/v1`, ca: certs.caPem, timeoutMs: 5000 });
    expect(result.reachable).toBe(true);
  });

  it('says "connection refused" at the TCP step when nothing listens', async () => {
    const port = await freePort();
    const result = await probeReachability({ url: `https://127.0.0.1:${port}`, ca: certs.caPem, timeoutMs: 5000 });
    expect(result).toMatchObject({ reachable: false, failedStep: 'tcp', detail: 'connection refused', certificate: null });
  });

  it('fails at the TLS step when the chain is not trusted, and says to set authServer.caFile', async () => {
    const server = await tlsServer();
    const result = await probeReachability({ url: `https://127.0.0.1:${server.port}`, timeoutMs: 5000 });
    expect(result).toMatchObject({ reachable: false, failedStep: 'tls', certificate: null });
    expect(result.detail).toMatch(/^TLS certificate not trusted \(\w+\): set authServer.caFile/);
  });

  it('fails at the DNS step for a host name that does not exist', async () => {
    const result = await probeReachability({ url: 'https://no-such-host.invalid', timeoutMs: 5000 });
    expect(result).toMatchObject({ reachable: false, failedStep: 'dns' });
  });

  it('succeeds for a plain-HTTP server with nothing to check beyond TCP', async () => {
    const server = await tlsServer();
    const result = await probeReachability({ url: `http://127.0.0.1:${server.port}`, timeoutMs: 5000 });
    expect(result).toMatchObject({ reachable: true, certificate: null, detail: 'reachable (plain HTTP: no TLS to check)' });
  });

  describe('through a proxy', () => {
    it('tunnels with CONNECT and checks TLS end to end', async () => {
      const server = await tlsServer();
      const proxy = await startConnectProxy();
      open.push(proxy);
      const result = await probeReachability({ url: `https://127.0.0.1:${server.port}`, ca: certs.caPem, proxy: proxy.url, timeoutMs: 5000 });
      expect(result).toMatchObject({ reachable: true, via: `proxy http://127.0.0.1:${proxy.port}` });
      expect(result.certificate?.notAfter).toBe(notAfter);
      expect(proxy.connects).toEqual([{ target: `127.0.0.1:${server.port}`, authorization: undefined }]);
    });

    it('sends the credentials of the proxy URL, and never shows them', async () => {
      const server = await tlsServer();
      const proxy = await startConnectProxy({ credentials: 'probe-user:S3cret-proxy-pw' });
      open.push(proxy);
      const ok = await probeReachability({ url: `https://127.0.0.1:${server.port}`, ca: certs.caPem, proxy: proxy.url, timeoutMs: 5000 });
      expect(ok.reachable).toBe(true);
      expect(proxy.connects[0]?.authorization).toBe(`Basic ${Buffer.from('probe-user:S3cret-proxy-pw').toString('base64')}`);
      expect(JSON.stringify(ok)).not.toContain('S3cret');

      const bare = await probeReachability({
        url: `https://127.0.0.1:${server.port}`,
        ca: certs.caPem,
        proxy: `http://127.0.0.1:${proxy.port}`,
        timeoutMs: 5000,
      });
      expect(bare).toMatchObject({ reachable: false, failedStep: 'proxy' });
      expect(bare.detail).toMatch(/HTTP 407/);
    });

    it('fails at the proxy step when the proxy refuses the target, and at TCP when the proxy is down', async () => {
      const server = await tlsServer();
      const proxy = await startConnectProxy({ refuse: true });
      open.push(proxy);
      const refused = await probeReachability({ url: `https://127.0.0.1:${server.port}`, ca: certs.caPem, proxy: proxy.url, timeoutMs: 5000 });
      expect(refused).toMatchObject({ reachable: false, failedStep: 'proxy', detail: `the proxy refused to connect to 127.0.0.1:${server.port} (HTTP 403)` });
      const down = await probeReachability({
        url: `https://127.0.0.1:${server.port}`,
        ca: certs.caPem,
        proxy: `http://127.0.0.1:${await freePort()}`,
        timeoutMs: 5000,
      });
      expect(down).toMatchObject({ reachable: false, failedStep: 'tcp', detail: 'connection refused' });
    });
  });
});

describe("the agent's periodic probe", () => {
  function capture() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    return { lines, logger: createLogger({ destination: stream, level: 'info' }) };
  }

  /** The probe of node n1 in project p1, each step limited to 5 s, its timer on `clock`. */
  const newProbe = (
    registry: Registry,
    logger: Logger,
    authServer: { url: string; caFile: string; proxy: string },
    intervalMs: number,
    clock = new FakeClock(),
  ) => new ReachabilityProbe({ registry, project: 'p1', node: 'n1', authServer: { ...authServer, timeoutMs: 5000 }, intervalMs, logger, timers: clock });

  const series = async (registry: Registry) => (await registry.metrics()).split('\n').filter((l) => /^fdl_cloudauth_(authserver|probe)_/.test(l));

  function caFileDir(): { caFile: string; remove(): void } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-probe-ca-'));
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, certs.caPem);
    return { caFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
  }

  it('through a proxy with credentials: logs once when it loses the server and once when it is back, never the proxy password', async () => {
    const server = await tlsServer();
    const proxy = await startConnectProxy({ credentials: 'u:Pr0xy-Secret' });
    open.push(proxy);
    const ca = caFileDir();
    const registry = new Registry();
    const { lines, logger } = capture();
    const probe = newProbe(registry, logger, { url: `https://127.0.0.1:${server.port}`, caFile: ca.caFile, proxy: proxy.url }, 60_000);
    try {
      // No probe yet: no series, so a dashboard cannot mistake "not probed" for "reachable".
      expect(await series(registry)).toEqual([]);
      expect((await probe.probeOnce()).reachable).toBe(true);
      expect(await series(registry)).toContain('fdl_cloudauth_authserver_reachable{project="p1",node="n1"} 1');

      await server.close();
      expect((await probe.probeOnce()).failedStep).toBe('proxy');
      expect((await probe.probeOnce()).failedStep).toBe('proxy');
      expect(await series(registry)).toContain('fdl_cloudauth_authserver_reachable{project="p1",node="n1"} 0');
      // The expiry seen last stays: it is the server's certificate, not the probe's state.
      expect(await series(registry)).toContain(`fdl_cloudauth_authserver_tls_expiry_timestamp_seconds{project="p1",node="n1"} ${Math.floor(notAfter / 1000)}`);

      open.push(await startTlsServer(certs.certPem, certs.keyPem, server.port));
      expect((await probe.probeOnce()).reachable).toBe(true);

      const text = lines.join('');
      expect(text.match(/Authorization server unreachable/g)).toHaveLength(1);
      expect(text.match(/Authorization server reachable again/g)).toHaveLength(1);
      expect(text).toContain(`"via":"proxy http://127.0.0.1:${proxy.port}"`);
      expect(text + (await registry.metrics())).not.toContain('Pr0xy-Secret');
    } finally {
      await probe.close();
      ca.remove();
    }
  });

  it('goes from reachable to unreachable and back with the server, on its own timer', async () => {
    const ca = caFileDir();
    const server = await tlsServer();
    const registry = new Registry();
    const { lines, logger } = capture();
    const clock = new FakeClock();
    const probe = newProbe(registry, logger, { url: `https://127.0.0.1:${server.port}`, caFile: ca.caFile, proxy: '' }, 60_000, clock);
    try {
      probe.start();
      // Fires the probe that is due and waits for it: a probe arms the next one when it has finished.
      const until = async (want: string) => {
        await clock.advanceToNext();
        await waitFor('the probe to finish', () => clock.timers === 1, 10_000, 10);
        expect(await series(registry)).toContain(want);
      };
      await until('fdl_cloudauth_authserver_reachable{project="p1",node="n1"} 1');
      const all = await series(registry);
      expect(all).toContain(`fdl_cloudauth_authserver_tls_expiry_timestamp_seconds{project="p1",node="n1"} ${Math.floor(notAfter / 1000)}`);
      expect(all.find((l) => l.startsWith('fdl_cloudauth_probe_duration_seconds{'))).toMatch(/ \d+(\.\d+)?(e-\d+)?$/);

      await server.close();
      await until('fdl_cloudauth_authserver_reachable{project="p1",node="n1"} 0');
      expect(lines.join('')).toMatch(/"step":"tcp","detail":"connection refused".*Authorization server unreachable/);
    } finally {
      await probe.close();
      ca.remove();
    }
  });

  it('is off with probe.interval 0: no probe, no series', async () => {
    const registry = new Registry();
    const { lines, logger } = capture();
    const probe = newProbe(registry, logger, { url: `https://127.0.0.1:${await freePort()}`, caFile: '', proxy: '' }, 0);
    probe.start();
    await probe.close();
    // No probe ran: one would have found the port closed and said so, and left series.
    expect(lines.join('')).not.toContain('Authorization server unreachable');
    expect(await series(registry)).toEqual([]);
    expect(lines.join('')).toContain('Reachability probe off');
  });
});
