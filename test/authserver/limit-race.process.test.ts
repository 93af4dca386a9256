import { authenticate, createAccount, request, spawnAuthServer, TEST_ADMIN_TOKEN, type ChildAuthServer } from '../../harness/authserver';
import { useRedisForAuthServers } from '../support/authserver-suite';
import { FailureLimiter } from '../../daemon/http/failure-limiter';
import { DEFAULT_ADMIN_TOKEN_FAILURES, DEFAULT_PASSWORD_FAILURES } from '../../daemon/authserver/auth-server';

const DEFAULT_ADMIN_TOKENS_PER_ADDRESS = DEFAULT_ADMIN_TOKEN_FAILURES.perAddress;

/**
 * The reference server's limits cannot be raced and cover the admin token: 200 wrong
 * passwords for one account sent at once are evaluated at most the per-account limit
 * times (a slot is reserved before the slow hash; before, all 200 were evaluated), and
 * wrong admin tokens are limited per source address (before, not at all). The server
 * runs as its own process, over real HTTP.
 */
jest.setTimeout(60_000);

const suite = useRedisForAuthServers();
const RIGHT = 'race-Right-Pw-41';
let server: ChildAuthServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

it('evaluates at most the per-account limit of 200 wrong passwords sent at once; the others get 429', async () => {
  const s = (server = await spawnAuthServer({ redisUrl: suite.redis.url }));
  await createAccount(s.url, TEST_ADMIN_TOKEN, { account: 'racer', password: RIGHT });
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => authenticate(s.url, { account: 'racer', password: `wrong-${i}`, nodeId: `n-${i}` })));
  const evaluated = answers.filter((a) => a.status === 200 && a.json?.code === 30006).length;
  const limited = answers.filter((a) => a.status === 429 && a.json?.code === 30006).length;
  console.log(`200 concurrent wrong passwords: ${evaluated} evaluated, ${limited} limited (limit ${DEFAULT_PASSWORD_FAILURES.perAccount} per account)`);
  expect(evaluated + limited).toBe(200);
  expect(evaluated).toBeGreaterThan(0);
  expect(evaluated).toBeLessThanOrEqual(DEFAULT_PASSWORD_FAILURES.perAccount);
  expect(s.stdout()).not.toContain(RIGHT);
});

it('does not count the right password sent by many nodes at once: 50 nodes of one account all authenticate', async () => {
  const s = (server = await spawnAuthServer({ redisUrl: suite.redis.url }));
  await createAccount(s.url, TEST_ADMIN_TOKEN, { account: 'fleet', password: RIGHT, capacity: 60 });
  // Sent at once, before any hash is done: one hash is shared by all, none holds a slot of the limit.
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => authenticate(s.url, { account: 'fleet', password: RIGHT, nodeId: `fleet-${i}` })));
  expect(answers.map((a) => a.json?.code)).toEqual(Array(50).fill(0));
});

it('limits wrong admin tokens per address, and a right token clears the count', async () => {
  const s = (server = await spawnAuthServer({ redisUrl: suite.redis.url }));
  const admin = (token: string) => request(s.url, '/admin/faults', { token });
  // Below the limit, a right token in between starts the count again.
  for (let i = 0; i < DEFAULT_ADMIN_TOKENS_PER_ADDRESS - 1; i++) expect((await admin(`wrong-token-${i}`)).status).toBe(401);
  expect((await admin(TEST_ADMIN_TOKEN)).status).toBe(200);
  for (let i = 0; i < DEFAULT_ADMIN_TOKENS_PER_ADDRESS; i++) expect((await admin(`wrong-token-b${i}`)).status).toBe(401);
  const blocked = await admin('wrong-token-last');
  expect(blocked.status).toBe(429);
  expect(blocked.json?.message).toMatch(/too many wrong admin tokens from this address: try again in \d+ s/);
  expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  // Past the limit the token is not even compared: a guess that happened to be right learns nothing.
  expect((await admin(TEST_ADMIN_TOKEN)).status).toBe(429);
  expect(s.stdout()).not.toContain(TEST_ADMIN_TOKEN);
});

describe('FailureLimiter reservations', () => {
  it('counts checks in progress toward the limit and frees them once, when they end', () => {
    let now = 0;
    const limiter = new FailureLimiter({ maxFailures: 2, windowMs: 1000, now: () => now });
    const first = limiter.reserve('k');
    expect(limiter.blockedForMs('k')).toBe(0);
    const second = limiter.reserve('k');
    expect(limiter.blockedForMs('k')).toBeGreaterThan(0);
    first();
    first();
    expect(limiter.blockedForMs('k')).toBe(0);
    second();
    limiter.recordFailure('k');
    limiter.recordFailure('k');
    now = 500;
    expect(limiter.blockedForMs('k')).toBe(500);
    limiter.recordSuccess('k');
    expect(limiter.blockedForMs('k')).toBe(0);
  });
});
