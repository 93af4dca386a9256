import Redis from 'ioredis';
import { loadConfig, ConfigError } from '../../shared/config/load';
import { createLogger } from '../../shared/logger';
import { closeRedis, connectOrExplain, createRedis, RedisUnreachableError, type RedisClient } from '../../shared/redis/connection';
import { CaptureProxy } from '../support/capture-proxy';
import { startRedisCluster } from '../support/redis-cluster';
import { disposeSecuredSentinels, startSecuredSentinel } from '../support/redis-sentinel';
import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';
import { writeCertificates, type CertificateFiles } from '../../harness/tls';

/**
 * Redis with TLS and passwords in all three modes, against real `redis-server`
 * processes that serve TLS only (`--port 0 --tls-port`) and require client
 * certificates, with certificates made here. Capture proxies sit where the network
 * would be: what the product sends must open with a TLS handshake and never carry the
 * password or a RESP command in clear. The Sentinel case is the review's finding: the
 * primary found through Sentinel was spoken to in plain RESP (`HELLO 3 AUTH default
 * <password>`) although redis.url was rediss://.
 */
jest.setTimeout(120_000);

const PASSWORD = 'redis-Pw-7Qx2Lm';
const SENTINEL_PASSWORD = 'sentinel-Pw-4Kd9';
let files: CertificateFiles;
const proxies: CaptureProxy[] = [];
const clients: RedisClient[] = [];

beforeAll(() => {
  files = writeCertificates();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => closeRedis(c)));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await disposeSecuredSentinels();
  await disposeAllRedis();
  files.remove();
});

async function proxyTo(port: number): Promise<CaptureProxy> {
  const proxy = new CaptureProxy(port);
  await proxy.start();
  proxies.push(proxy);
  return proxy;
}

function tlsEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    CLOUDAUTH_REDIS_TLS_CA_FILE: files.caFile,
    CLOUDAUTH_REDIS_TLS_CERT_FILE: files.clientCertFile,
    CLOUDAUTH_REDIS_TLS_KEY_FILE: files.clientKeyFile,
    ...extra,
  };
}

async function connect(env: NodeJS.ProcessEnv, purpose: 'command' | 'cli' = 'command'): Promise<RedisClient> {
  const cfg = loadConfig({ env });
  const client = createRedis(cfg.redis, { purpose, lazyConnect: true });
  client.on('error', () => undefined);
  clients.push(client);
  await connectOrExplain(client, cfg.redis);
  return client;
}

function expectOnlyTls(proxy: CaptureProxy): void {
  expect(proxy.sent.length).toBeGreaterThan(0);
  expect(proxy.allStartWithTlsHandshake()).toBe(true);
  for (const clear of [PASSWORD, SENTINEL_PASSWORD, 'AUTH', 'HELLO', 'PING']) expect(proxy.sawInClear(clear)).toBe(false);
}

describe('standalone Redis over TLS with a password and a client certificate', () => {
  let server: TestRedis;
  beforeAll(async () => {
    server = await startRedis({ tls: { files, clientCertificates: 'yes' }, password: PASSWORD });
  });

  it('works through rediss:// with the CA, client certificate and key of redis.tls.*, and nothing crosses in clear', async () => {
    const proxy = await proxyTo(server.port);
    const client = await connect(tlsEnv({ CLOUDAUTH_REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:${proxy.port}` }));
    await client.set('tls-standalone', 'ok');
    expect(await client.get('tls-standalone')).toBe('ok');
    expectOnlyTls(proxy);
  });

  it('verifies the server certificate against redis.tls.servername', async () => {
    const url = `rediss://:${PASSWORD}@127.0.0.1:${server.port}`;
    const good = await connect(tlsEnv({ CLOUDAUTH_REDIS_URL: url, CLOUDAUTH_REDIS_TLS_SERVERNAME: 'localhost' }), 'cli');
    expect(await good.ping()).toBe('PONG');
    const wrong = connect(tlsEnv({ CLOUDAUTH_REDIS_URL: url, CLOUDAUTH_REDIS_TLS_SERVERNAME: 'redis.wrong.example' }), 'cli');
    await expect(wrong).rejects.toThrow(RedisUnreachableError);
    await expect(wrong).rejects.toThrow(/redis\.wrong\.example|altnames/);
  });

  it('is refused without the private CA, and without the client certificate the server requires', async () => {
    const url = `rediss://:${PASSWORD}@127.0.0.1:${server.port}`;
    await expect(connect({ CLOUDAUTH_REDIS_URL: url }, 'cli')).rejects.toThrow(/certificate/);
    await expect(connect({ CLOUDAUTH_REDIS_URL: url, CLOUDAUTH_REDIS_TLS_CA_FILE: files.caFile }, 'cli')).rejects.toThrow(RedisUnreachableError);
  });

  it('never hands the password to an error message', async () => {
    const url = `rediss://:${PASSWORD}@127.0.0.1:${server.port}`;
    const error = (await connect({ CLOUDAUTH_REDIS_URL: url }, 'cli').catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(RedisUnreachableError);
    expect(error.message).not.toContain(PASSWORD);
  });
});

describe('Sentinel over TLS: TLS and passwords to the Sentinel and to the primary it names', () => {
  it('speaks TLS to both, authenticates to both, and the capture between client and primary sees a handshake, not AUTH', async () => {
    const primary = await startRedis({ tls: { files, clientCertificates: 'yes' }, password: PASSWORD });
    // The sentinel watches the primary through a proxy, so the address it announces
    // (and the client then connects to) is the capture point.
    const primaryProxy = await proxyTo(primary.port);
    const sentinel = await startSecuredSentinel({ primaryPort: primaryProxy.port, files, password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
    const sentinelProxy = await proxyTo(sentinel.port);
    const before = primaryProxy.sent.length;

    const client = await connect(
      tlsEnv({
        CLOUDAUTH_REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:6379`,
        CLOUDAUTH_REDIS_SENTINELS: `127.0.0.1:${sentinelProxy.port}`,
        CLOUDAUTH_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
        CLOUDAUTH_REDIS_SENTINEL_TLS: 'true',
      }),
    );
    await client.set('tls-sentinel', 'ok');
    expect(await client.get('tls-sentinel')).toBe('ok');
    // The client did reach the primary through the capture point.
    expect(primaryProxy.sent.length).toBeGreaterThan(before);
    expectOnlyTls(primaryProxy);
    expectOnlyTls(sentinelProxy);
  });
});

describe('Redis Cluster over TLS with a password', () => {
  it('reads and writes every slot range over TLS-only nodes, the seed connection a TLS handshake', async () => {
    const cluster = await startRedisCluster(3, { tls: { files, clientCertificates: 'yes' }, password: PASSWORD });
    const seed = cluster.nodes[0] as TestRedis;
    const proxy = await proxyTo(seed.port);
    const client = await connect(
      tlsEnv({ CLOUDAUTH_REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:6379`, CLOUDAUTH_REDIS_CLUSTER_NODES: `127.0.0.1:${proxy.port}` }),
    );
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const key = `tls-cluster-${i}`;
      await client.set(key, String(i));
      expect(await client.get(key)).toBe(String(i));
      owners.add((await cluster.nodeForKey(key)).port);
    }
    expect(owners.size).toBe(3);
    expectOnlyTls(proxy);
    // The nodes have no plain port: a clear-text client gets nothing back.
    const plain = new Redis({
      host: '127.0.0.1',
      port: seed.port,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      commandTimeout: 2000,
    });
    plain.on('error', () => undefined);
    await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
    plain.disconnect();
  });
});

describe('Redis TLS configuration checks', () => {
  const problems = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig({ env });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.join('\n');
      throw error;
    }
    return '';
  };

  it('keeps the Redis and Sentinel passwords out of a log line that carries the Redis settings', () => {
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    const cfg = loadConfig({
      env: {
        CLOUDAUTH_REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:6379`,
        CLOUDAUTH_REDIS_SENTINELS: '127.0.0.1:26379',
        CLOUDAUTH_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
      },
    });
    log.info({ redis: cfg.redis, config: { redis: cfg.redis } }, 'settings');
    expect(lines.join('')).toContain('[redacted]');
    expect(lines.join('')).not.toContain(PASSWORD);
    expect(lines.join('')).not.toContain(SENTINEL_PASSWORD);
  });

  it('refuses TLS settings with a redis:// URL, which would send the password in clear', () => {
    expect(problems({ CLOUDAUTH_REDIS_URL: 'redis://127.0.0.1:6379', CLOUDAUTH_REDIS_TLS_CA_FILE: files.caFile })).toMatch(
      /nothing uses TLS: write redis\.url \(CLOUDAUTH_REDIS_URL\) as rediss:\/\//,
    );
  });

  it('refuses rediss:// through plain-text Sentinels unless something pins the primary, naming what to set', () => {
    const base = { CLOUDAUTH_REDIS_URL: 'rediss://127.0.0.1:6379', CLOUDAUTH_REDIS_SENTINELS: '127.0.0.1:26379' };
    const text = problems(base);
    expect(text).toContain('redis.url (CLOUDAUTH_REDIS_URL)');
    expect(text).toMatch(/nothing pins the primary's identity/);
    expect(text).toContain('redis.tls.servername (CLOUDAUTH_REDIS_TLS_SERVERNAME)');
    expect(text).toContain('redis.tls.caFile (CLOUDAUTH_REDIS_TLS_CA_FILE)');
    expect(text).toContain('redis.sentinelTls (CLOUDAUTH_REDIS_SENTINEL_TLS=true)');
    // Any one of the three pins it.
    expect(problems({ ...base, CLOUDAUTH_REDIS_TLS_SERVERNAME: 'redis.internal' })).toBe('');
    expect(problems({ ...base, CLOUDAUTH_REDIS_TLS_CA_FILE: files.caFile })).toBe('');
    expect(problems({ ...base, CLOUDAUTH_REDIS_SENTINEL_TLS: 'true' })).toBe('');
    // Plain redis:// through Sentinels and rediss:// without Sentinels are not this check's business.
    expect(problems({ ...base, CLOUDAUTH_REDIS_URL: 'redis://127.0.0.1:6379' })).toBe('');
    expect(problems({ CLOUDAUTH_REDIS_URL: 'rediss://127.0.0.1:6379' })).toBe('');
  });

  it('names an unreadable file, a certificate without its key, and Sentinel settings without Sentinels', () => {
    const text = problems({
      CLOUDAUTH_REDIS_URL: 'rediss://127.0.0.1:6379',
      CLOUDAUTH_REDIS_TLS_CA_FILE: '/nonexistent/ca.pem',
      CLOUDAUTH_REDIS_TLS_CERT_FILE: files.clientCertFile,
      CLOUDAUTH_REDIS_SENTINEL_PASSWORD: 'x',
    });
    expect(text).toContain('redis.tls.caFile (CLOUDAUTH_REDIS_TLS_CA_FILE): /nonexistent/ca.pem cannot be read');
    expect(text).toContain('redis.tls.certFile (CLOUDAUTH_REDIS_TLS_CERT_FILE) and redis.tls.keyFile (CLOUDAUTH_REDIS_TLS_KEY_FILE): set both');
    expect(text).toMatch(/apply only with redis\.sentinels/);
    expect(text).not.toContain("'x'");
  });
});
