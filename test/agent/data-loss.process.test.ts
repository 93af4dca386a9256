import Redis from 'ioredis';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { heartbeatsWaitMs, HEALTHY_INTERVAL_MS } from '../../harness/noise-budget';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { readNode, recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * Nothing is lost when Redis loses its data — restarted without persistence, or FLUSHALL with
 * the connections still open. The nodes put back what they hold (the encrypted
 * credential, their latest record) and restore their schedules, so the project comes
 * back without a false failure and without a new `register`; `status` says plainly
 * what is gone. (data-loss-failed.process.test.ts: a `failed` project stays failed.)
 */
// The noise budget's heartbeat (the sidecars' default): a healthy node stays ok while
// any one process stalls 3 s, so `degraded` below is bad1's streak and nothing else.
jest.setTimeout(240_000);

const PASSWORD = 'loss-pw-1';
let projectRedis: TestRedis;
let redis: Redis;
let auth: ChildAuthServer;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  projectRedis = await startRedis();
  const authRedis = await startRedis();
  redis = new Redis(projectRedis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'loss', password: PASSWORD, capacity: 5, allowedIps: ['10.2.0.1/32'] });
  fixture = await registerProject({
    project: 'loss',
    keyPrefix: testPrefix('loss'),
    redisUrl: projectRedis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'loss',
    password: PASSWORD,
  });
  for (const [id, ip] of [
    ['ok1', '10.2.0.1'],
    ['bad1', '10.2.0.9'],
  ] as const) {
    sidecars.push(await startSidecar(fixture, { nodeId: id, env: { CLOUDAUTH_NODE_IP: ip, CLOUDAUTH_FAILURE_THRESHOLD: '50' } }));
  }
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

const env = () => ({
  CLOUDAUTH_PROJECT: 'loss',
  CLOUDAUTH_REDIS_URL: projectRedis.url,
  CLOUDAUTH_REDIS_KEY_PREFIX: fixture.keyPrefix,
  CLOUDAUTH_HEARTBEAT_INTERVAL: `${HEALTHY_INTERVAL_MS}ms`,
  CLOUDAUTH_FAILURE_THRESHOLD: '50',
});

async function status(): Promise<StatusJson> {
  return JSON.parse((await runCli(['status', '--json'], env())).stdout) as StatusJson;
}

async function expectRestored(streakBefore: number): Promise<void> {
  await waitFor('the credential to be back', async () => (await redis.hget(fixture.keys.credential, 'account')) === 'loss', heartbeatsWaitMs(1), 100);
  // The failing node's streak continues from what it held — not reset to 1, not lost.
  await waitFor(
    'bad1 to continue its streak',
    async () => ((await readNode(redis, fixture.keys, 'bad1'))?.consecutiveFailures ?? 0) > streakBefore,
    heartbeatsWaitMs(1),
    100,
  );
  await waitFor(
    'ok1 to authenticate again',
    async () => {
      const r = await readNode(redis, fixture.keys, 'ok1');
      return r !== null && r.consecutiveFailures === 0 && (await recordedAttempts(redis, fixture.keys, 'ok1')).length >= 2;
    },
    heartbeatsWaitMs(2),
    100,
  );
  // Nothing counted twice: restoring the record also restores the ids of the results it
  // holds, so re-recording them is a no-op. Every attempt of bad1 failed (its streak
  // never ended) and the test is shorter than the 50 results a node keeps, so the
  // streak, the counters and the recorded ids must all agree.
  for (const id of ['bad1', 'ok1']) {
    const hash = await redis.hgetall(fixture.keys.node(id));
    const ids = (await recordedAttempts(redis, fixture.keys, id)).length;
    expect(Number(hash.attemptsTotal)).toBe(ids);
    if (id === 'bad1') expect(Number(hash.consecutiveFailures)).toBe(ids);
  }
  const s = await status();
  expect(s.status).toBe('degraded');
  expect(s.nodes.map((n) => n.id).sort()).toEqual(['bad1', 'ok1']);
  expect(s.nodes.find((n) => n.id === 'bad1')?.reason).toMatchObject({ code: 30003, name: 'LICENSE_IP_ERROR' });
  expect(s.recovery).not.toBeNull();
  expect(s.recovery?.lost).toMatch(/failure history .* are gone/);
  expect(Object.keys(s.recovery?.restoredBy ?? {}).sort()).toEqual(['bad1', 'ok1']);
  const human = (await runCli(['status'], env())).stdout;
  expect(human).toContain('Recovery');
  expect(human).toContain('Redis lost the project data');
}

it('comes back from a Redis restarted without persistence', async () => {
  await waitFor('bad1 failing 3 times', async () => ((await readNode(redis, fixture.keys, 'bad1'))?.consecutiveFailures ?? 0) >= 3, heartbeatsWaitMs(3), 100);
  await projectRedis.kill();
  await projectRedis.restart();
  const streakBefore = 3;
  await expectRestored(streakBefore);
});

it('comes back from FLUSHALL with every connection still open, schedules included', async () => {
  const streakBefore = (await readNode(redis, fixture.keys, 'bad1'))?.consecutiveFailures ?? 0;
  await redis.flushall();
  await expectRestored(streakBefore);
  // The schedules are back: scheduled (slot:) attempts are recorded after the flush.
  await waitFor(
    'scheduled attempts after the flush',
    async () => (await recordedAttempts(redis, fixture.keys, 'ok1')).filter((id) => id.startsWith('slot:')).length >= 2,
    heartbeatsWaitMs(2),
    100,
  );
});
