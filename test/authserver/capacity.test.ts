import Redis from 'ioredis';
import { FakeClock } from '../../harness/fake-clock';
import { testPrefix } from '../../harness/redis-server';
import { authenticate, boundNodes, createAccount, getAccount, startInProcessAuthServer } from '../../harness/authserver';
import { useRedisForAuthServers } from '../support/authserver-suite';

/**
 * The capacity rule under concurrency (one Lua check-and-bind), and state surviving a
 * server restart on the same Redis.
 */
const suite = useRedisForAuthServers();

describe('capacity under concurrency', () => {
  it('binds exactly `capacity` nodes when many authenticate at once', async () => {
    const server = await startInProcessAuthServer({ redisUrl: suite.redis.url });
    const a = { account: 'race@example.com', password: 'race-password-1' };
    await createAccount(server.url, server.token, { ...a, capacity: 5 });

    const nodes = Array.from({ length: 24 }, (_, i) => `node-${String(i).padStart(2, '0')}`);
    const answers = await Promise.all(nodes.map((nodeId) => authenticate(server.url, { ...a, nodeId })));
    const codes = answers.map((r) => r.json?.code);
    expect(codes.filter((c) => c === 0)).toHaveLength(5);
    expect(codes.filter((c) => c === 30007)).toHaveLength(19);

    const winners = nodes.filter((_, i) => codes[i] === 0).sort();
    expect(await boundNodes(server.url, server.token, a.account)).toEqual(winners);
    for (const answer of answers.filter((r) => r.json?.code === 0)) expect(answer.json?.data.capacity).toBe(5);

    // Bound nodes keep passing, also all at once and racing the losers again.
    const again = await Promise.all(nodes.map((nodeId) => authenticate(server.url, { ...a, nodeId })));
    nodes.forEach((nodeId, i) => expect([nodeId, again[i]?.json?.code]).toEqual([nodeId, winners.includes(nodeId) ? 0 : 30007]));
    expect(again.find((r) => r.json?.code === 0)?.json?.data.bound).toBe(5);
    await server.close();
  });
});

describe('restart', () => {
  it('keeps accounts and bindings when the server stops and starts again on the same Redis', async () => {
    const keyPrefix = testPrefix('restart');
    const clock = new FakeClock(Date.UTC(2026, 5, 1));
    // The product's default cost (the harness runs its servers at 2^14): the stored hash below says 2^17.
    const first = await startInProcessAuthServer({ redisUrl: suite.redis.url, keyPrefix, clock, env: { CLOUDAUTH_AUTHSERVER_PASSWORD_HASH_COST: '17' } });
    const a = { account: 'persist@example.com', password: 'persist-password-1' };
    await createAccount(first.url, first.token, { ...a, capacity: 2, allowedIps: ['10.0.0.0/8'] });
    expect((await authenticate(first.url, { ...a, nodeId: 'n1' })).json?.code).toBe(0);
    expect((await authenticate(first.url, { ...a, nodeId: 'n2' })).json?.code).toBe(0);
    const before = (await getAccount(first.url, first.token, a.account)).json?.data;
    await first.close();
    await first.close(); // idempotent

    // What is in Redis: the documented key layout, and a salted scrypt hash, never the password.
    const client = new Redis(suite.redis.url);
    try {
      const keys = (await client.keys(`${keyPrefix}:*`)).sort();
      expect(keys).toEqual([`${keyPrefix}:authserver:{${a.account}}:account`, `${keyPrefix}:authserver:{${a.account}}:bindings`]);
      const stored = await client.hgetall(keys[0] ?? '');
      expect(stored.passwordHash).toMatch(/^scrypt\$131072\$8\$1\$/);
      const everything = JSON.stringify([stored, await client.hgetall(keys[1] ?? '')]);
      expect(everything).not.toContain(a.password);
    } finally {
      client.disconnect();
    }

    const second = await startInProcessAuthServer({ redisUrl: suite.redis.url, keyPrefix, clock });
    expect(second.port).not.toBe(0);
    const after = (await getAccount(second.url, second.token, a.account)).json?.data;
    expect(after).toEqual(before);
    expect(await boundNodes(second.url, second.token, a.account)).toEqual(['n1', 'n2']);
    expect((await authenticate(second.url, { ...a, nodeId: 'n1' })).json?.code).toBe(0);
    expect((await authenticate(second.url, { ...a, nodeId: 'n3' })).json?.code).toBe(30007);
    // The password survived as a hash: the right one works, a wrong one does not.
    expect((await authenticate(second.url, { ...a, password: 'nope', nodeId: 'n1' })).json?.code).toBe(30006);
    expect((await authenticate(second.url, { ...a, nodeId: 'n1', ip: '11.0.0.1' })).json?.code).toBe(30003);
    await second.close();
  });
});
