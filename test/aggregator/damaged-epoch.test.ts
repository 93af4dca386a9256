import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { startCandidate } from '../../harness/sidecar-parts';
import { waitFor } from '../../harness/wait';

/**
 * A fencing epoch key written by another tool (a float, a word, a wrong type) does not
 * stop the election for good: the lease is taken with an epoch above any count of
 * elections, and epochs go on growing.
 */
let server: TestRedis;
let admin: Redis;
beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  admin?.disconnect();
  await disposeAllRedis();
});

it.each([
  ['a float', (k: ProjectKeys) => admin.set(k.epoch, '7.0')],
  ['a word', (k: ProjectKeys) => admin.set(k.epoch, 'seven')],
  ['a hash', (k: ProjectKeys) => admin.hset(k.epoch, 'epoch', '7')],
])('an epoch key holding %s: a leader is elected with a higher epoch', async (_what, damage) => {
  const keys = new ProjectKeys(testPrefix('epoch'), 'p');
  await damage(keys);
  const candidate = await startCandidate({ url: server.url, keys, nodeId: 'n1', leaseMs: 6000, renewMs: 1000 });
  try {
    await waitFor('n1 to lead', () => candidate.election.isLeader, 10_000);
    const [s] = await admin.time();
    expect(candidate.election.epoch).toBeGreaterThan(Number(s) * 1000 - 60_000);
    expect(await admin.get(keys.epoch)).toBe(String(candidate.election.epoch));
  } finally {
    await candidate.close();
  }
});
