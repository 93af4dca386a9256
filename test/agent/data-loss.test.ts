import Redis from 'ioredis';
import { closeAllAuthServers, createAccount, startInProcessAuthServer, type InProcessAuthServer } from '../support/authserver';
import { runCli } from '../support/cli';
import { waitFor } from '../support/ports';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../support/redis-server';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { readNode, recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../support/sidecar';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * Issue 6 §3: Redis loses its data — restarted without persistence, or FLUSHALL with
 * the connections still open. The nodes put back what they hold (the encrypted
 * credential, their latest record) and restore their schedules, so the project comes
 * back without a false failure and without a new `register`; `status` says plainly
 * what is gone. Issue 10 §3: a `failed` project stays failed through both losses —
 * every node keeps the verdict it saw and puts it back — until `register`.
 */
jest.setTimeout(150_000);

const PASSWORD = 'loss-pw-1';
let projectRedis: TestRedis;
let redis: Redis;
let auth: InProcessAuthServer;
let fixture: ProjectFixture;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  projectRedis = await startRedis();
  const authRedis = await startRedis();
  redis = new Redis(projectRedis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  auth = await startInProcessAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'loss', password: PASSWORD, capacity: 5, allowedIps: ['10.2.0.1/32'] });
  fixture = await registerProject({ project: 'loss', keyPrefix: testPrefix('loss'), redisUrl: projectRedis.url, keyDir: testKeyDir(), authUrl: auth.url, account: 'loss', password: PASSWORD });
  for (const [id, ip] of [['ok1', '10.2.0.1'], ['bad1', '10.2.0.9']] as const) {
    sidecars.push(await startSidecar(fixture, { nodeId: id, interval: '1s', env: { CLOUDAUTH_NODE_IP: ip, CLOUDAUTH_FAILURE_THRESHOLD: '50' } }));
  }
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

const env = () => ({ CLOUDAUTH_PROJECT: 'loss', CLOUDAUTH_REDIS_URL: projectRedis.url, CLOUDAUTH_REDIS_KEY_PREFIX: fixture.keyPrefix, CLOUDAUTH_HEARTBEAT_INTERVAL: '1s', CLOUDAUTH_FAILURE_THRESHOLD: '50' });

async function status(): Promise<StatusJson> {
  return JSON.parse((await runCli(['status', '--json'], env())).stdout) as StatusJson;
}

async function expectRestored(streakBefore: number): Promise<void> {
  await waitFor('the credential to be back', async () => (await redis.hget(fixture.keys.credential, 'account')) === 'loss', 20_000, 100);
  // The failing node's streak continues from what it held — not reset to 1, not lost.
  await waitFor('bad1 to continue its streak', async () => ((await readNode(redis, fixture.keys, 'bad1'))?.consecutiveFailures ?? 0) > streakBefore, 20_000, 100);
  await waitFor('ok1 to authenticate again', async () => {
    const r = await readNode(redis, fixture.keys, 'ok1');
    return r !== null && r.consecutiveFailures === 0 && (await recordedAttempts(redis, fixture.keys, 'ok1')).length >= 2;
  }, 20_000, 100);
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
  await waitFor('bad1 failing 3 times', async () => ((await readNode(redis, fixture.keys, 'bad1'))?.consecutiveFailures ?? 0) >= 3, 30_000, 100);
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
  await waitFor('scheduled attempts after the flush', async () => (await recordedAttempts(redis, fixture.keys, 'ok1')).filter((id) => id.startsWith('slot:')).length >= 2, 20_000, 100);
});

describe('a failed project', () => {
  const FAIL_THRESHOLD = 3;
  let failRedis: TestRedis;
  let admin: Redis;
  let failFixture: ProjectFixture;
  const failSidecars: Sidecar[] = [];
  const failEnv = () => ({ CLOUDAUTH_PROJECT: 'lossfail', CLOUDAUTH_REDIS_URL: failRedis.url, CLOUDAUTH_REDIS_KEY_PREFIX: failFixture.keyPrefix, CLOUDAUTH_HEARTBEAT_INTERVAL: '1s', CLOUDAUTH_FAILURE_THRESHOLD: String(FAIL_THRESHOLD) });
  const failStatus = async (): Promise<StatusJson> => JSON.parse((await runCli(['status', '--json'], failEnv())).stdout) as StatusJson;
  const heldVerdict = (s: Sidecar): unknown => (JSON.parse(readFileSync(path.join(s.journalDir, `state-${s.nodeId}.json`), 'utf8')) as { verdict: unknown }).verdict;
  /** "Project is marked failed: not authenticating" lines: each is an attempt the node refused to make. */
  const refusals = (s: Sidecar): number => s.output().split('Project is marked failed: not authenticating').length - 1;

  beforeAll(async () => {
    failRedis = await startRedis();
    admin = new Redis(failRedis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    admin.on('error', () => undefined);
    await createAccount(auth.url, auth.token, { account: 'lossfail', password: PASSWORD, capacity: 5, allowedIps: ['10.3.0.1/32'] });
    failFixture = await registerProject({ project: 'lossfail', keyPrefix: testPrefix('lossfail'), redisUrl: failRedis.url, keyDir: testKeyDir(), authUrl: auth.url, account: 'lossfail', password: PASSWORD });
    for (const [id, ip] of [['fok', '10.3.0.1'], ['fbad', '10.3.0.9']] as const) {
      failSidecars.push(await startSidecar(failFixture, { nodeId: id, interval: '1s', env: { CLOUDAUTH_NODE_IP: ip, CLOUDAUTH_FAILURE_THRESHOLD: String(FAIL_THRESHOLD) } }));
    }
  });

  afterAll(async () => {
    await Promise.all(failSidecars.map((s) => s.stop()));
    admin?.disconnect();
  });

  /** After a loss: the verdict is back, and every node refuses attempts again instead of authenticating. */
  async function expectStillFailed(attemptsBefore: Record<string, number>, streakBefore: number): Promise<void> {
    await waitFor('the failed verdict to be back', async () => (await admin.hget(failFixture.keys.status, 'status')) === 'failed', 20_000, 100);
    const refusedBefore = failSidecars.map(refusals);
    // Each node has looked at the restored project and refused to authenticate since.
    await waitFor('both nodes to refuse an attempt after the loss', () => failSidecars.every((s, i) => refusals(s) > (refusedBefore[i] as number)), 20_000, 100);
    const s = await failStatus();
    expect(s.status).toBe('failed');
    expect(s.lockoutSeconds).toBe(0);
    expect(s.recovery?.restoredBy).toBeDefined();
    expect(Object.values(s.recovery?.restoredBy ?? {}).flat()).toContain('status');
    // Nothing authenticated: the records are the ones held before the loss (fbad now
    // passes the allow-list, so one attempt would have been a success).
    for (const id of ['fok', 'fbad']) expect((await readNode(admin, failFixture.keys, id))?.attemptsTotal).toBe(attemptsBefore[id]);
    // Its streak as recorded before the loss: at least the threshold (an attempt already
    // under way when the leader wrote the verdict is recorded too).
    expect(s.nodes.find((n) => n.id === 'fbad')).toMatchObject({ status: 'failed', consecutiveFailures: streakBefore });
    expect(streakBefore).toBeGreaterThanOrEqual(FAIL_THRESHOLD);
  }

  async function attemptsNow(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const id of ['fok', 'fbad']) out[id] = (await readNode(admin, failFixture.keys, id))?.attemptsTotal ?? -1;
    return out;
  }

  it('stays failed through a restart without persistence and a FLUSHALL, until register', async () => {
    await waitFor('the project to fail', async () => (await failStatus()).status === 'failed', 40_000, 200);
    // Every node holds the verdict (learnt from the leader's status event).
    await waitFor('both nodes to hold the failed verdict', () => failSidecars.every((s) => heldVerdict(s) !== null), 20_000, 100);
    // The reason is fixed: from now on fbad would authenticate — if anything let it.
    await createAccount(auth.url, auth.token, { account: 'lossfail', password: PASSWORD, capacity: 5, allowedIps: ['10.3.0.0/24'] });
    // Each node has refused an attempt since (one attempt at a time), so none is under
    // way: the records read now are final.
    const refused = failSidecars.map(refusals);
    await waitFor('both nodes to refuse an attempt', () => failSidecars.every((s, i) => refusals(s) > (refused[i] as number)), 20_000, 100);
    const before = await attemptsNow();
    const streak = (await readNode(admin, failFixture.keys, 'fbad'))?.consecutiveFailures ?? -1;

    await failRedis.kill();
    await failRedis.restart();
    await expectStillFailed(before, streak);

    await admin.flushall();
    await expectStillFailed(before, streak);

    // Only a registration clears it, and the nodes follow at once.
    await registerCredential(admin, failFixture.keys, { account: 'lossfail', password: PASSWORD, keyDir: failFixture.keyDir, defaultAlgorithm: 'rsa' });
    await waitFor('registered again', async () => (await failStatus()).status === 'registered', 30_000, 200);
    await waitFor('the nodes to drop the old verdict', () => failSidecars.every((s) => heldVerdict(s) === null), 20_000, 100);
  });
});
