import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import Redis from 'ioredis';
import { runCli } from '../../daemon/cli/run-cli';
import { checkClock } from '../../daemon/doctor/redis-checks';
import { cipherFor } from '../../shared/crypto/ciphers';
import { KEY_FILE_NAMES } from '../../shared/crypto/key-files';
import { FakeClock } from '../../harness/fake-clock';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { freePort } from '../../harness/ports';
import { startConnectProxy, type TestProxy } from '../support/probe-servers';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { registerProject, testKeyDir } from '../../harness/sidecar';
import { fillDisk, mountable, mountSmallDisk, remount, unmountAll } from '../support/small-disk';
import { makeCertificates } from '../../harness/tls';

/**
 * `fdl-cloudauth doctor` against real parts: Redis servers (one as the guidance asks,
 * one not), the reference server over HTTPS, CONNECT proxies. Every check passes on a
 * healthy node (exit 0), and each one fails, with its fix, when its cause is there.
 */
jest.setTimeout(60_000);

const PASSWORD = 'doctor account password';
const REDIS_PASSWORD = 'Redis-S3cret-pw';
const PROXY_PASSWORD = 'Proxy-S3cret-pw';
const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-doctor-'));
const caFile = path.join(dir, 'ca.pem');

let redis: TestRedis;
let auth: ChildAuthServer;
let proxy: TestProxy;
let healthy: Record<string, string>;

interface Check {
  id: string;
  ok: boolean;
  required: boolean;
  detail: string;
  fix: string | null;
}

async function doctor(env: Record<string, string>, args: string[] = []): Promise<{ code: number; text: string; checks: Check[]; ok: boolean }> {
  const run = async (extra: string[]) => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const code = await runCli(['doctor', '--management-center', auth.url, ...args, ...extra], { stdout, stderr, stdin: Readable.from([]), env });
    return { code, out };
  };
  const json = await run(['--json']);
  const text = await run([]);
  expect(text.code).toBe(json.code);
  const parsed = JSON.parse(json.out) as { ok: boolean; checks: Check[] };
  return { code: json.code, text: text.out, checks: parsed.checks, ok: parsed.ok };
}

function check(checks: Check[], id: string): Check {
  const found = checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${checks.map((c) => c.id).join(', ')}`);
  return found;
}

/**
 * The failing checks but the Redis user's scope: these runs use the server's
 * administrator (CONFIG GET answers), which doctor rightly warns can do more than one
 * project needs; the project's own user is test/security/redis-acl.process.test.ts's.
 */
function failing(checks: Check[]): Check[] {
  return checks.filter((c) => !c.ok && c.id !== 'redis-user-scope');
}

/** Expects exactly the given checks to fail, each with a fix, and the exit code that follows. */
function expectFailing(result: Awaited<ReturnType<typeof doctor>>, ids: string[], exitCode = 1): void {
  expect(failing(result.checks).map((c) => c.id)).toEqual(ids);
  for (const id of ids) {
    expect(check(result.checks, id).fix?.length).toBeGreaterThan(10);
    expect(result.text).toMatch(new RegExp(`✗ [^\\n]*\\n {4}fix: `));
  }
  expect(result.code).toBe(exitCode);
}

beforeAll(async () => {
  const certs = makeCertificates();
  writeFileSync(caFile, certs.caPem);
  writeFileSync(path.join(dir, 'cert.pem'), certs.certPem);
  writeFileSync(path.join(dir, 'key.pem'), certs.keyPem, { mode: 0o600 });
  redis = await startRedis({ args: ['--appendonly', 'yes'], password: REDIS_PASSWORD });
  const redisUrl = `redis://:${REDIS_PASSWORD}@127.0.0.1:${new URL(redis.url).port}`;
  auth = await spawnAuthServer({
    redisUrl,
    env: { CLOUDAUTH_AUTHSERVER_TLS_CERT: path.join(dir, 'cert.pem'), CLOUDAUTH_AUTHSERVER_TLS_KEY: path.join(dir, 'key.pem') },
  });
  await createAccount(auth.url, auth.token, { account: 'acct-doctor', password: PASSWORD }, certs.caPem);
  const keyPrefix = testPrefix('doctor');
  await registerProject({ project: 'doc', keyPrefix, redisUrl, keyDir: testKeyDir(), authUrl: auth.url, account: 'acct-doctor', password: PASSWORD });
  proxy = await startConnectProxy({ credentials: `probe:${PROXY_PASSWORD}` });
  healthy = {
    CLOUDAUTH_PROJECT: 'doc',
    CLOUDAUTH_NODE_ID: 'node-1',
    CLOUDAUTH_NODE_IP: '10.0.0.5',
    CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
    CLOUDAUTH_AUTH_SERVER_URL: auth.url,
    CLOUDAUTH_AUTH_CA_FILE: caFile,
    CLOUDAUTH_AUTH_TIMEOUT: '3s',
    CLOUDAUTH_REDIS_URL: redisUrl,
    CLOUDAUTH_REDIS_KEY_PREFIX: keyPrefix,
    CLOUDAUTH_KEY_DIR: testKeyDir(),
    CLOUDAUTH_JOURNAL_DIR: path.join(dir, 'journal'),
    CLOUDAUTH_LOG_LEVEL: 'warn',
  };
});

afterAll(async () => {
  await proxy?.close();
  await closeAllAuthServers();
  await disposeAllRedis();
  unmountAll();
  rmSync(dir, { recursive: true, force: true });
});

const ALL_CHECKS = [
  'config',
  'keys-dir',
  'keys-private',
  'journal-dir',
  'node-ip',
  'redis',
  'redis-version',
  'redis-persistence',
  'redis-eviction',
  'clock',
  'credential',
  'redis-user',
  'redis-user-scope',
  'authserver-dns',
  'authserver-tcp',
  'authserver-tls',
  'management-center',
];

describe('fdl-cloudauth doctor on a healthy node', () => {
  it('passes every check, each on a ✓ line, and exits 0', async () => {
    const r = await doctor(healthy);
    expect(r.checks.map((c) => c.id)).toEqual(ALL_CHECKS);
    expect(failing(r.checks)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.code).toBe(0);
    expect(
      r.text
        .trim()
        .split('\n')
        .filter((l) => /^[✓✗] /.test(l)),
    ).toHaveLength(ALL_CHECKS.length);
    // The one ✗: the administrator can do more than the project needs, a warning that does not fail the run.
    expect(r.text.match(/✗/g)).toHaveLength(1);
    expect(check(r.checks, 'redis-user-scope')).toMatchObject({ ok: false, required: false });
    expect(check(r.checks, 'redis-user-scope').detail).toContain('FLUSHALL');
    expect(r.text).toContain('Every required check passed.');
    expect(check(r.checks, 'authserver-tls').detail).toMatch(/^chain trusted, certificate expires \d{4}-/);
    expect(check(r.checks, 'credential').detail).toMatch(/^opens with this node's rsa key /);
    expect(check(r.checks, 'management-center').required).toBe(false);
  });

  it('goes through the proxy with its credentials (an extra ✓ line) and never prints a password', async () => {
    const r = await doctor({ ...healthy, CLOUDAUTH_AUTH_PROXY: proxy.url });
    expect(failing(r.checks)).toEqual([]);
    expect(check(r.checks, 'authserver-proxy').ok).toBe(true);
    expect(proxy.connects.length).toBeGreaterThanOrEqual(2);
    for (const secret of [REDIS_PASSWORD, PROXY_PASSWORD, PASSWORD]) expect(r.text + JSON.stringify(r.checks)).not.toContain(secret);
  });
});

describe('fdl-cloudauth doctor finds each problem and says the fix', () => {
  it('configuration: a key the daemon needs is missing (the other checks still run)', async () => {
    const env = { ...healthy };
    delete (env as Record<string, string | undefined>).CLOUDAUTH_PRODUCT_VERSION;
    const r = await doctor(env);
    expectFailing(r, ['config']);
    expect(check(r.checks, 'config').detail).toContain('product.version');
    expect(check(r.checks, 'redis').ok).toBe(true);
  });

  it('key directory writable by others, private key open to others, key directory missing', async () => {
    const keys = path.join(dir, 'keys-open');
    cpSync(testKeyDir(), keys, { recursive: true });
    chmodSync(keys, 0o777);
    let r = await doctor({ ...healthy, CLOUDAUTH_KEY_DIR: keys });
    expectFailing(r, ['keys-dir']);
    expect(check(r.checks, 'keys-dir').fix).toBe(`run \`chmod 700 ${keys}\``);

    chmodSync(keys, 0o700);
    chmodSync(path.join(keys, KEY_FILE_NAMES.rsa.private), 0o644);
    r = await doctor({ ...healthy, CLOUDAUTH_KEY_DIR: keys });
    // The credential cannot be opened with a refused key either.
    expectFailing(r, ['keys-private', 'credential']);
    expect(check(r.checks, 'keys-private').detail).toContain('chmod 600');

    r = await doctor({ ...healthy, CLOUDAUTH_KEY_DIR: path.join(dir, 'no-such-dir') });
    expectFailing(r, ['keys-dir', 'credential']);
    expect(check(r.checks, 'keys-dir').fix).toContain('fdl-cloudauth keys generate');
  });

  it('journal directory: missing but creatable passes; not a directory, read-only or full fails, naming the directory and the error', async () => {
    let r = await doctor(healthy);
    expect(check(r.checks, 'journal-dir').detail).toMatch(
      new RegExp(`^${path.join(dir, 'journal')} is missing; the daemon creates it \\(mode 0700\\) in ${dir}, [\\d.]+ MiB free$`),
    );
    const blocker = path.join(dir, 'journal-blocker');
    writeFileSync(blocker, 'a file where a directory should be');
    r = await doctor({ ...healthy, CLOUDAUTH_JOURNAL_DIR: path.join(blocker, 'journal') });
    expectFailing(r, ['journal-dir']);
    expect(check(r.checks, 'journal-dir').detail).toBe(`${blocker} is not a directory`);
    if (!mountable().ok) return console.warn(`Skipping the read-only and full journal directory cases: ${mountable().why}`);
    const disk = mountSmallDisk(16);
    remount(disk, 'ro');
    r = await doctor({ ...healthy, CLOUDAUTH_JOURNAL_DIR: disk });
    expectFailing(r, ['journal-dir']);
    expect(check(r.checks, 'journal-dir').detail).toContain(`${disk} does not take writes (EROFS`);
    expect(check(r.checks, 'journal-dir').fix).toContain('CLOUDAUTH_JOURNAL_DIR');
    remount(disk, 'rw');
    fillDisk(disk);
    r = await doctor({ ...healthy, CLOUDAUTH_JOURNAL_DIR: disk });
    expectFailing(r, ['journal-dir']);
    expect(check(r.checks, 'journal-dir').detail).toContain(`${disk} does not take writes (ENOSPC`);
  });

  it('node IP: a loopback address would be reported', async () => {
    const r = await doctor({ ...healthy, CLOUDAUTH_NODE_IP: '127.0.0.1' });
    expectFailing(r, ['node-ip']);
  });

  it('Redis unreachable: the Redis checks fail and say so', async () => {
    const r = await doctor({ ...healthy, CLOUDAUTH_REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${await freePort()}` });
    expectFailing(r, ['redis', 'credential']);
    expect(r.text).not.toContain(REDIS_PASSWORD);
  });

  it('Redis without AOF and with an evicting policy; no credential stored there', async () => {
    const plain = await startRedis();
    const admin = new Redis(plain.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    admin.disconnect();
    const r = await doctor({ ...healthy, CLOUDAUTH_REDIS_URL: plain.url });
    expectFailing(r, ['redis-persistence', 'redis-eviction', 'credential']);
    expect(check(r.checks, 'redis-persistence').fix).toContain('appendonly yes');
    expect(check(r.checks, 'redis-eviction').fix).toContain('noeviction');
    expect(check(r.checks, 'credential').detail).toBe('no credential stored for project doc');
  });

  it('clock: more than a minute off Redis time fails, within passes', async () => {
    const client = new Redis(healthy.CLOUDAUTH_REDIS_URL ?? '');
    try {
      const [seconds, micros] = await client.time();
      const redisMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const off = await checkClock(client, new FakeClock(redisMs + 5 * 60_000));
      expect(off).toMatchObject({ ok: false, required: true });
      expect(off.detail).toMatch(/^this node's clock is \+(299|300)\.\d s off Redis time$/);
      expect(off.fix).toContain('synchronize');
      expect((await checkClock(client, new FakeClock(redisMs + 500))).ok).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('credential: the stored one was made for another key pair', async () => {
    const keys = path.join(dir, 'keys-other');
    cpSync(testKeyDir(), keys, { recursive: true });
    const pair = cipherFor('rsa').generateKeyPair();
    writeFileSync(path.join(keys, KEY_FILE_NAMES.rsa.private), pair.privateKey, { mode: 0o600 });
    writeFileSync(path.join(keys, KEY_FILE_NAMES.rsa.public), pair.publicKey, { mode: 0o644 });
    const r = await doctor({ ...healthy, CLOUDAUTH_KEY_DIR: keys });
    expectFailing(r, ['credential']);
    expect(check(r.checks, 'credential').detail).toContain('was encrypted for rsa key');
  });

  it('authorization server: DNS, TCP, TLS and proxy failures, each at its step', async () => {
    const dns = await doctor({ ...healthy, CLOUDAUTH_AUTH_SERVER_URL: 'https://no-such-host.invalid' });
    expectFailing(dns, ['authserver-dns', 'authserver-tcp', 'authserver-tls']);
    expect(check(dns.checks, 'authserver-tcp').detail).toBe('not reached: an earlier step failed');

    const tcp = await doctor({ ...healthy, CLOUDAUTH_AUTH_SERVER_URL: `https://127.0.0.1:${await freePort()}` });
    expectFailing(tcp, ['authserver-tcp', 'authserver-tls']);
    expect(check(tcp.checks, 'authserver-tcp').detail).toMatch(/^connection refused/);

    const env = { ...healthy };
    delete (env as Record<string, string | undefined>).CLOUDAUTH_AUTH_CA_FILE;
    const tls = await doctor(env);
    // The management center is the same server here: it fails too, but it is optional.
    expectFailing(tls, ['authserver-tls', 'management-center']);
    expect(check(tls.checks, 'authserver-tls').fix).toContain('authServer.caFile');

    const refusing = await startConnectProxy({ refuse: true });
    try {
      const viaProxy = await doctor({ ...healthy, CLOUDAUTH_AUTH_PROXY: refusing.url });
      expectFailing(viaProxy, ['authserver-proxy', 'authserver-tls', 'management-center']);
    } finally {
      await refusing.close();
    }
  });

  it('management center unreachable: shown as ✗ but optional, so the exit code stays 0', async () => {
    const r = await doctor(healthy, ['--management-center', `https://127.0.0.1:${await freePort()}`]);
    expectFailing(r, ['management-center'], 0);
    expect(r.ok).toBe(true);
    expect(r.text).toContain('Every required check passed.');
  });
});
