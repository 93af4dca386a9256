import { Codes } from '../../shared/catalog';
import Redis from 'ioredis';
import { AccountStore } from '../../daemon/authserver/account-store';
import { AdminApi } from '../../daemon/authserver/admin-api';
import { FaultInjector } from '../../daemon/authserver/fault-injector';
import { OffsetClock } from '../../shared/clock';
import { createLogger } from '../../shared/logger';
import { VerifiedPasswordCache } from '../../daemon/authserver/verified-password-cache';
import { authenticate, closeAllAuthServers, createAccount, startInProcessAuthServer, type InProcessAuthServer } from '../../harness/authserver';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';

/**
 * The verified-password cache (added for the reference server's throughput, see
 * docs/benchmarks.md): it must only ever save work, never change an answer.
 */
describe('VerifiedPasswordCache', () => {
  it('remembers a success for ttlMs, for that exact account, stored hash and password', () => {
    let now = 1000;
    const cache = new VerifiedPasswordCache({ ttlMs: 60_000, now: () => now });
    expect(cache.has('acme', 'hash-1', 'pw')).toBe(false);
    cache.remember('acme', 'hash-1', 'pw');
    expect(cache.has('acme', 'hash-1', 'pw')).toBe(true);
    expect(cache.has('acme', 'hash-1', 'pw2')).toBe(false);
    expect(cache.has('acme', 'hash-2', 'pw')).toBe(false);
    expect(cache.has('other', 'hash-1', 'pw')).toBe(false);
    // Field boundaries are kept: ('ab', 'c') is not ('a', 'bc').
    cache.remember('ab', 'c', 'pw');
    expect(cache.has('a', 'bc', 'pw')).toBe(false);
    now += 59_999;
    expect(cache.has('acme', 'hash-1', 'pw')).toBe(true);
    now += 1;
    expect(cache.has('acme', 'hash-1', 'pw')).toBe(false);
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const cache = new VerifiedPasswordCache({ maxEntries: 2, now: () => 0 });
    cache.remember('a', 'h', 'p');
    cache.remember('b', 'h', 'p');
    cache.remember('a', 'h', 'p'); // refreshed: now the newest
    cache.remember('c', 'h', 'p');
    expect(cache.size).toBe(2);
    expect(cache.has('a', 'h', 'p')).toBe(true);
    expect(cache.has('b', 'h', 'p')).toBe(false);
    expect(cache.has('c', 'h', 'p')).toBe(true);
  });

  it('caches nothing with ttlMs 0 and refuses bad options', () => {
    const cache = new VerifiedPasswordCache({ ttlMs: 0 });
    cache.remember('a', 'h', 'p');
    expect(cache.has('a', 'h', 'p')).toBe(false);
    expect(() => new VerifiedPasswordCache({ ttlMs: -1 })).toThrow(/ttlMs/);
    expect(() => new VerifiedPasswordCache({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});

describe('the reference server with the cache', () => {
  let server: InProcessAuthServer;

  let redisServer: TestRedis;

  beforeAll(async () => {
    redisServer = await startRedis();
    server = await startInProcessAuthServer({ redisUrl: redisServer.url, logLevel: 'warn' });
  });

  afterAll(async () => {
    await closeAllAuthServers();
    await disposeAllRedis();
  });

  it('refuses a wrong password after a cached success, and an old password once it was changed', async () => {
    await createAccount(server.url, server.token, { account: 'cache-1', password: 'first-password', capacity: 5 });
    for (let i = 0; i < 2; i++) expect((await authenticate(server.url, { account: 'cache-1', password: 'first-password' })).json?.code).toBe(0);
    expect((await authenticate(server.url, { account: 'cache-1', password: 'first-passwordX' })).json?.code).toBe(30006);
    // Saving the account again stores a new hash (new salt): the cached check no longer applies.
    await createAccount(server.url, server.token, { account: 'cache-1', password: 'second-password', capacity: 5 });
    expect((await authenticate(server.url, { account: 'cache-1', password: 'first-password' })).json?.code).toBe(30006);
    expect((await authenticate(server.url, { account: 'cache-1', password: 'second-password' })).json?.code).toBe(0);
  });

  it('knows a password saved through the admin API: a node needs no hash for it, a wrong password still does', async () => {
    // scrypt at N = 2^17 takes seconds on a loaded machine: a node's first attempt after
    // the account was saved must not wait for it (the demo's 1 s heartbeat did).
    const verifiedPasswords = new VerifiedPasswordCache();
    const redis = new Redis(redisServer.url);
    try {
      const store = new AccountStore(redis, testPrefix('admincache'));
      const admin = new AdminApi({
        store,
        faults: new FaultInjector(),
        clock: new OffsetClock(),
        logger: createLogger({ level: 'silent' }),
        verifiedPasswords,
      });
      await admin.saveAccount({ account: 'cache-3', password: 'pw-cache-3', capacity: 5, expiresAt: '2099-01-01T00:00:00Z' });
      const stored = (await store.get('cache-3'))?.passwordHash ?? '';
      expect(stored).toMatch(/^scrypt\$/);
      expect(verifiedPasswords.has('cache-3', stored, 'pw-cache-3')).toBe(true);
      expect(verifiedPasswords.has('cache-3', stored, 'pw-cache-3X')).toBe(false);
    } finally {
      redis.disconnect();
    }
  });

  it('still applies the account as stored now: disabled after a cached success is refused', async () => {
    await createAccount(server.url, server.token, { account: 'cache-2', password: 'pw-cache-2', capacity: 5 });
    expect((await authenticate(server.url, { account: 'cache-2', password: 'pw-cache-2' })).json?.code).toBe(0);
    await createAccount(server.url, server.token, { account: 'cache-2', password: 'pw-cache-2', capacity: 5, status: 'disabled' });
    expect((await authenticate(server.url, { account: 'cache-2', password: 'pw-cache-2' })).json?.code).toBe(Codes.ACCOUNT_STATUS_ERROR);
  });
});
