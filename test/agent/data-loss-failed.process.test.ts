import Redis from 'ioredis';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { heartbeatsWaitMs, HEALTHY_INTERVAL_MS } from '../../harness/noise-budget';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { readNode, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * A `failed` project stays failed when Redis loses its data — restarted
 * without persistence, or FLUSHALL with the connections still open: every node keeps
 * the verdict it saw and puts it back, and no node authenticates, until `register`.
 * (data-loss.process.test.ts: a project that is not failed comes back whole.)
 */
// The noise budget's heartbeat (the sidecars' default): fok stays ok while any one
// process stalls 3 s, and a refused slot is a heartbeat apart from the next.
jest.setTimeout(240_000);

const PASSWORD = 'loss-pw-1';
let auth: ChildAuthServer;

beforeAll(async () => {
  const authRedis = await startRedis();
  auth = await spawnAuthServer({ redisUrl: authRedis.url });
});

afterAll(async () => {
  await closeAllAuthServers();
  await disposeAllRedis();
});

const FAIL_THRESHOLD = 3;
let failRedis: TestRedis;
let admin: Redis;
let failFixture: ProjectFixture;
const failSidecars: Sidecar[] = [];
const failEnv = () => ({
  CLOUDAUTH_PROJECT: 'lossfail',
  CLOUDAUTH_REDIS_URL: failRedis.url,
  CLOUDAUTH_REDIS_KEY_PREFIX: failFixture.keyPrefix,
  CLOUDAUTH_HEARTBEAT_INTERVAL: `${HEALTHY_INTERVAL_MS}ms`,
  CLOUDAUTH_FAILURE_THRESHOLD: String(FAIL_THRESHOLD),
});
const failStatus = async (): Promise<StatusJson> => JSON.parse((await runCli(['status', '--json'], failEnv())).stdout) as StatusJson;
const heldVerdict = (s: Sidecar): unknown =>
  (JSON.parse(readFileSync(path.join(s.journalDir, `state-${s.nodeId}.json`), 'utf8')) as { verdict: unknown }).verdict;
/** "Project is marked failed: not authenticating" lines: each is an attempt the node refused to make. */
const refusals = (s: Sidecar): number => s.output().split('Project is marked failed: not authenticating').length - 1;

beforeAll(async () => {
  failRedis = await startRedis();
  admin = new Redis(failRedis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  admin.on('error', () => undefined);
  await createAccount(auth.url, auth.token, { account: 'lossfail', password: PASSWORD, capacity: 5, allowedIps: ['10.3.0.1/32'] });
  failFixture = await registerProject({
    project: 'lossfail',
    keyPrefix: testPrefix('lossfail'),
    redisUrl: failRedis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'lossfail',
    password: PASSWORD,
  });
  for (const [id, ip] of [
    ['fok', '10.3.0.1'],
    ['fbad', '10.3.0.9'],
  ] as const) {
    failSidecars.push(await startSidecar(failFixture, { nodeId: id, env: { CLOUDAUTH_NODE_IP: ip, CLOUDAUTH_FAILURE_THRESHOLD: String(FAIL_THRESHOLD) } }));
  }
});

afterAll(async () => {
  await Promise.all(failSidecars.map((s) => s.stop()));
  admin?.disconnect();
});

/** After a loss: the verdict is back, and every node refuses attempts again instead of authenticating. */
async function expectStillFailed(attemptsBefore: Record<string, number>, streakBefore: number): Promise<void> {
  await waitFor('the failed verdict to be back', async () => (await admin.hget(failFixture.keys.status, 'status')) === 'failed', heartbeatsWaitMs(1), 100);
  const refusedBefore = failSidecars.map(refusals);
  // Each node has looked at the restored project and refused to authenticate since.
  await waitFor(
    'both nodes to refuse an attempt after the loss',
    () => failSidecars.every((s, i) => refusals(s) > (refusedBefore[i] as number)),
    heartbeatsWaitMs(1),
    100,
  );
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
  await waitFor('the project to fail', async () => (await failStatus()).status === 'failed', heartbeatsWaitMs(FAIL_THRESHOLD), 200);
  // Every node holds the verdict (learnt from the leader's status event).
  await waitFor('both nodes to hold the failed verdict', () => failSidecars.every((s) => heldVerdict(s) !== null), 20_000, 100);
  // The reason is fixed: from now on fbad would authenticate — if anything let it.
  await createAccount(auth.url, auth.token, { account: 'lossfail', password: PASSWORD, capacity: 5, allowedIps: ['10.3.0.0/24'] });
  // Each node has refused an attempt since (one attempt at a time), so none is under
  // way: the records read now are final.
  const refused = failSidecars.map(refusals);
  await waitFor('both nodes to refuse an attempt', () => failSidecars.every((s, i) => refusals(s) > (refused[i] as number)), heartbeatsWaitMs(1), 100);
  const before = await attemptsNow();
  const streak = (await readNode(admin, failFixture.keys, 'fbad'))?.consecutiveFailures ?? -1;

  await failRedis.kill();
  await failRedis.restart();
  await expectStillFailed(before, streak);

  await admin.flushall();
  await expectStillFailed(before, streak);

  // Only a registration clears it, and the nodes follow at once.
  await registerCredential(admin, failFixture.keys, { account: 'lossfail', password: PASSWORD, keyDir: failFixture.keyDir, defaultAlgorithm: 'rsa' });
  await waitFor('registered again', async () => (await failStatus()).status === 'registered', heartbeatsWaitMs(1), 200);
  await waitFor('the nodes to drop the old verdict', () => failSidecars.every((s) => heldVerdict(s) === null), 20_000, 100);
});
