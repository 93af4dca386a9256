import Redis from 'ioredis';
import { BUSY_INTERVAL_MS, heartbeatsWaitMs } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { readNode, recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { queueName } from '../../daemon/agent/schedule';

/**
 * R1/R2 through real sidecar processes, a real Redis and the real reference server:
 * nodes authenticate on their grid, and neither a restart nor a second replica of a
 * node id creates a second schedule or records an attempt twice.
 */
jest.setTimeout(240_000);

// The budget's shortest heartbeat: enough slots to see the grid, and each attempt
// still holds a stalled server's answer (these nodes must never fail).
const INTERVAL_MS = BUSY_INTERVAL_MS;
const INTERVAL = `${INTERVAL_MS}ms`;

let redis: Redis;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
  const auth = await spawnAuthServer({ redisUrl: server.url });
  await createAccount(auth.url, auth.token, { account: 'acme', password: 'pässword-1', capacity: 10 });
  fixture = await registerProject({
    project: 'sched',
    keyPrefix: testPrefix('agent'),
    redisUrl: server.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'acme',
    password: 'pässword-1',
  });
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

async function schedulers(nodeId: string): Promise<number> {
  return redis.zcard(`${fixture.keys.bullPrefix}:${queueName(nodeId)}:repeat`);
}

it('authenticates two nodes on schedule, once per slot', async () => {
  const a = await startSidecar(fixture, { nodeId: 'n1', interval: INTERVAL });
  const b = await startSidecar(fixture, { nodeId: 'n2', interval: INTERVAL });
  sidecars.push(a, b);
  // First attempt at once (no previous attempt), then one per slot.
  await waitFor(
    '4 attempts of each node',
    async () => (await recordedAttempts(redis, fixture.keys, 'n1')).length >= 4 && (await recordedAttempts(redis, fixture.keys, 'n2')).length >= 4,
    heartbeatsWaitMs(4, INTERVAL_MS),
    200,
  );
  for (const id of ['n1', 'n2']) {
    const record = await readNode(redis, fixture.keys, id);
    expect(record?.consecutiveFailures).toBe(0);
    expect(record?.lastSuccessAt).not.toBeNull();
    expect(record?.license.capacity).toBe(10);
    const ids = await recordedAttempts(redis, fixture.keys, id);
    expect(record?.attemptsTotal).toBe(ids.length);
    const slots = ids.filter((x) => x.startsWith('slot:')).map((x) => Number(x.split(':')[1]));
    expect(slots.length).toBeGreaterThanOrEqual(2);
    // Scheduled attempts sit on one grid: consecutive slots are whole intervals apart.
    for (let i = 1; i < slots.length; i++) expect(((slots[i] as number) - (slots[i - 1] as number)) % INTERVAL_MS).toBe(0);
    expect(await schedulers(id)).toBe(1);
  }
  expect(await redis.zrange(fixture.keys.nodes, '0', '-1')).toEqual(expect.arrayContaining(['n1', 'n2']));
  const metrics = (await a.get('/metrics')).text;
  expect(metrics).toMatch(/fdl_cloudauth_authentications_total\{project="sched",node="n1"\} [1-9]/);
  expect(metrics).toMatch(/fdl_cloudauth_redis_up\{project="sched",node="n1"\} 1/);
  expect((await a.get('/readyz')).status).toBe(200);
});

it('keeps one schedule across a restart and with two replicas of one node id, recording nothing twice', async () => {
  const first = sidecars.find((s) => s.nodeId === 'n1') as Sidecar;
  expect(await first.stop()).toBe(0);
  const again = await startSidecar(fixture, { nodeId: 'n1', interval: INTERVAL });
  const twin = await startSidecar(fixture, { nodeId: 'n1', interval: INTERVAL });
  sidecars.push(again, twin);
  const before = (await recordedAttempts(redis, fixture.keys, 'n1')).length;
  await waitFor(
    '5 more attempts of n1',
    async () => (await recordedAttempts(redis, fixture.keys, 'n1')).length >= before + 5,
    heartbeatsWaitMs(5, INTERVAL_MS),
    200,
  );
  expect(await schedulers('n1')).toBe(1);
  const record = await readNode(redis, fixture.keys, 'n1');
  const ids = await recordedAttempts(redis, fixture.keys, 'n1');
  // attemptsTotal counts recordings; equal to the distinct ids means nothing was counted twice.
  expect(record?.attemptsTotal).toBe(ids.length);
  const slots = ids.filter((x) => x.startsWith('slot:'));
  expect(new Set(slots).size).toBe(slots.length);
  // Both replicas work the same queue, so together they make one attempt per slot:
  // the recorded slots of the last 5 intervals are 5 distinct, consecutive slots.
  const lastFive = slots.slice(-5).map((x) => Number(x.split(':')[1]));
  for (let i = 1; i < lastFive.length; i++) expect((lastFive[i] as number) - (lastFive[i - 1] as number)).toBe(INTERVAL_MS);
});
