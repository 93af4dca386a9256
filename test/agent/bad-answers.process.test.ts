import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { AuthClient, InsecureUrlError } from '../../daemon/protocol/auth-client';
import { classify } from '../../daemon/protocol/classify';
import { loadConfig } from '../../shared/config/load';
import { AUTH_TIMEOUT_MS, heartbeatsWaitMs } from '../../harness/noise-budget';
import { startHostileServer, type HostileMode, type HostileServer } from '../support/hostile-server';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { readNode, registerProject, startSidecar, testKeyDir, type Sidecar } from '../../harness/sidecar';
import { makeCertificates } from '../../harness/tls';

/**
 * SPEC §4: answers that are malformed, truncated, over 64 KiB, slower than the timeout,
 * reset, or signed by an unknown CA are classified — never a crash — and a running
 * sidecar records each of them and keeps going.
 */
jest.setTimeout(120_000);

const servers: HostileServer[] = [];
let sidecar: Sidecar | undefined;
let redis: Redis | undefined;

afterAll(async () => {
  await sidecar?.stop();
  redis?.disconnect();
  await Promise.all(servers.map((s) => s.close()));
  await disposeAllRedis();
});

function client(url: string, extra: Record<string, string> = {}): AuthClient {
  return new AuthClient(loadConfig({ env: { CLOUDAUTH_AUTH_SERVER_URL: url, CLOUDAUTH_AUTH_TIMEOUT: '700ms', ...extra } }).authServer);
}

async function hostile(mode: HostileMode, tls?: { cert: string; key: string }): Promise<HostileServer> {
  const s = await startHostileServer(mode, tls);
  servers.push(s);
  return s;
}

describe('classification of bad answers', () => {
  const cases: Array<[HostileMode, string, RegExp, boolean]> = [
    ['malformed', 'INCORRECT_LICENSE_FORMAT', /malformed answer \(HTTP 200, body is not JSON\)/, false],
    ['truncated', 'CONNECTION_FAILED', /connection reset|network error/, true],
    ['huge', 'INCORRECT_LICENSE_FORMAT', /larger than 64 KiB/, false],
    ['slow', 'CONNECTION_FAILED', /no answer within authServer.timeout/, true],
    ['stall-body', 'CONNECTION_FAILED', /no answer within authServer.timeout/, true],
    ['reset', 'CONNECTION_FAILED', /connection reset|network error/, true],
    ['unknown-code', 'INCORRECT_LICENSE_FORMAT', /a code from the future/, false],
    ['http503', 'CONNECTION_FAILED', /HTTP 503/, true],
  ];
  it.each(cases)('%s → %s', async (mode, name, message, transient) => {
    const server = await hostile(mode);
    const c = client(server.url);
    try {
      const outcome = classify(await c.post('/v1/authenticate', { account: 'a' }));
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.name).toBe(name);
      expect(outcome.message).toMatch(message);
      expect(outcome.transient).toBe(transient);
      if (mode === 'unknown-code') expect(outcome.code).toBe(49999);
    } finally {
      await c.close();
    }
  });

  it('refuses a certificate from an unknown CA, and accepts it with authServer.caFile', async () => {
    const certs = makeCertificates();
    const server = await hostile('ok', { cert: certs.certPem, key: certs.keyPem });
    const untrusting = client(server.url);
    const outcome = classify(await untrusting.post('/v1/authenticate', {}));
    await untrusting.close();
    expect(outcome).toMatchObject({ ok: false, name: 'CONNECTION_FAILED', message: expect.stringMatching(/TLS certificate not trusted.*authServer.caFile/) });

    const caFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'fdl-ca-')), 'ca.pem');
    writeFileSync(caFile, certs.caPem);
    const trusting = client(server.url, { CLOUDAUTH_AUTH_CA_FILE: caFile });
    expect(classify(await trusting.post('/v1/authenticate', {}))).toMatchObject({ ok: true, license: { capacity: 3 } });
    await trusting.close();
  });

  it('reaches the server through authServer.proxy (HTTP CONNECT)', async () => {
    const server = await hostile('ok');
    const tunnels: string[] = [];
    const proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    const c = client(server.url, { CLOUDAUTH_AUTH_PROXY: proxyUrl });
    try {
      expect(classify(await c.post('/v1/authenticate', {}))).toMatchObject({ ok: true });
      expect(tunnels).toEqual([new URL(server.url).host]);
    } finally {
      await c.close();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('requires HTTPS unless the server is on loopback or plain HTTP is allowed', () => {
    expect(() => client('http://register.example.com')).toThrow(InsecureUrlError);
    expect(() => client('http://register.example.com', { CLOUDAUTH_AUTH_ALLOW_HTTP: 'true' })).not.toThrow();
    expect(() => client('http://127.0.0.1:1')).not.toThrow();
    expect(() => client('http://[::1]:1')).not.toThrow();
  });
});

it('a running sidecar records every bad answer with its reason and keeps running', async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
  const auth = await hostile('malformed');
  const f = await registerProject({
    project: 'hostile',
    keyPrefix: testPrefix('hostile'),
    redisUrl: server.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'x',
    password: 'pw-hostile',
  });
  // The budget's request timeout: the hostile server runs in this (busy) jest worker,
  // and one stalled past a short timeout would turn its reset into a timeout. Its slow
  // mode answers after a minute, so those attempts still end without an answer.
  sidecar = await startSidecar(f, { nodeId: 'h1', interval: '1s', env: { CLOUDAUTH_AUTH_TIMEOUT: `${AUTH_TIMEOUT_MS}ms`, CLOUDAUTH_HEARTBEAT_RETRIES: '0' } });
  const seen = new Set<string>();
  for (const mode of ['malformed', 'huge', 'slow', 'reset', 'unknown-code', 'ok'] as HostileMode[]) {
    auth.mode = mode;
    const before = (await readNode(redis, f.keys, 'h1'))?.attemptsTotal ?? 0;
    // Two attempts in this mode: the second surely began after the switch.
    await waitFor(
      `two attempts in mode ${mode}`,
      async () => ((await readNode(redis!, f.keys, 'h1'))?.attemptsTotal ?? 0) >= before + 2,
      heartbeatsWaitMs(2, 1000 + AUTH_TIMEOUT_MS),
      100,
    );
    const record = await readNode(redis, f.keys, 'h1');
    seen.add(mode === 'ok' ? (record?.consecutiveFailures === 0 ? 'ok' : 'not ok') : `${record?.latestReason?.name}:${record?.latestReason?.message}`);
    expect((await sidecar.get('/healthz')).status).toBe(200);
  }
  expect([...seen]).toEqual([
    expect.stringMatching(/^INCORRECT_LICENSE_FORMAT:malformed answer/),
    expect.stringMatching(/^INCORRECT_LICENSE_FORMAT:answer larger than 64 KiB/),
    // The slow answer is cut by the timeout or, at this 1 s heartbeat, by the attempt's
    // budget (0.8 × interval) first: either way a CONNECTION_FAILED that names why.
    // That the timeout alone ends a try, with its own message, is hostile-network's.
    expect.stringMatching(/^CONNECTION_FAILED:(no answer within authServer.timeout|.*the attempt's 1 s budget ran out)/),
    expect.stringMatching(/^CONNECTION_FAILED:connection reset/),
    expect.stringMatching(/^INCORRECT_LICENSE_FORMAT:a code from the future/),
    'ok',
  ]);
  const record = await readNode(redis, f.keys, 'h1');
  // The final success ended the streak; the history keeps every bad answer, the raw unknown code included.
  expect(record?.reason).toBeNull();
  const history = (await redis.lrange(f.keys.history('h1'), '0', '-1')).map((h) => JSON.parse(h) as { name: string; code: number | null });
  expect(history.some((h) => h.code === 49999 && h.name === 'INCORRECT_LICENSE_FORMAT')).toBe(true);
  expect(sidecar.running).toBe(true);
});
