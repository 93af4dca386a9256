import Redis from 'ioredis';
import { queueName } from '../../daemon/agent/schedule';
import { closeAllAuthServers, createAccount, request, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { readNode, recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';

/**
 * SIGTERM in the middle of an attempt, through a real sidecar process: the signal
 * closes the sidecar, the running attempt is let finish and recorded, the process exits
 * 0. What happens to an attempt that outlasts the close grace (abandoned, retried by
 * BullMQ under the same id, counted once) is decided in the agent: agent-shutdown.test.
 */
jest.setTimeout(60_000);

let redis: Redis;
let auth: ChildAuthServer;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
  auth = await spawnAuthServer({ redisUrl: server.url });
  await createAccount(auth.url, auth.token, { account: 'stop', password: 'pw-stop-1', capacity: 5 });
  fixture = await registerProject({
    project: 'stop',
    keyPrefix: testPrefix('stop'),
    redisUrl: server.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'stop',
    password: 'pw-stop-1',
  });
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

async function activeJob(nodeId: string): Promise<string> {
  const key = `${fixture.keys.bullPrefix}:${queueName(nodeId)}:active`;
  return (await waitFor(`an active attempt of ${nodeId}`, async () => (await redis.lrange(key, '0', '-1'))[0], 20_000, 25)) as string;
}

it('lets a running attempt finish on SIGTERM, records it, exits 0', async () => {
  await request(auth.url, '/admin/faults', { token: auth.token, body: { mode: 'delay', ms: 2000, nodes: ['t1'] } });
  const s = await startSidecar(fixture, { nodeId: 't1', interval: '1h' });
  sidecars.push(s);
  const job = await activeJob('t1');
  expect(await s.stop('SIGTERM')).toBe(0);
  expect(await recordedAttempts(redis, fixture.keys, 't1')).toEqual([job]);
  expect((await readNode(redis, fixture.keys, 't1'))?.attemptsTotal).toBe(1);
  await request(auth.url, '/admin/faults', { token: auth.token, method: 'DELETE' });
});
