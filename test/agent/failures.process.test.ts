import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { cipherFor } from '../../shared/crypto/ciphers';
import { KEY_FILE_NAMES } from '../../shared/crypto/key-files';
import { computeNodeStatus } from '../../daemon/view/compute-view';
import { queueName } from '../../daemon/agent/schedule';
import { BUSY_INTERVAL_MS, heartbeatsWaitMs } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, request, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { sleep, waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { readNode, recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';

/**
 * R2-R5 through real sidecars against the real reference server: a worker killed in
 * the middle of an attempt is re-run and counted once; the streak, its first and
 * latest reasons; a success resets it; a failed project stops authenticating until
 * it is registered again; a credential the node cannot open is its own local reason.
 * (The catch-up after `unbind` and the repair of a corrupt record are decided in the
 * agent: agent-catch-up.test, result-sink.test, record-attempt.test.)
 *
 * The three tests share nothing but the server (each its own account, project and
 * node), so they run at once (`it.concurrent`): the suite lasts as long as the streak.
 */
jest.setTimeout(300_000);

let redis: Redis;
let auth: ChildAuthServer;
let redisUrl: string;
const sidecars: Sidecar[] = [];
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  const server = await startRedis();
  redisUrl = server.url;
  redis = new Redis(server.url);
  auth = await spawnAuthServer({ redisUrl: server.url });
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

async function project(name: string, account: string, accountSettings: Record<string, unknown> = {}): Promise<ProjectFixture> {
  await createAccount(auth.url, auth.token, { account, password: PASSWORD, capacity: 10, ...accountSettings });
  return registerProject({ project: name, keyPrefix: testPrefix('fail'), redisUrl, keyDir: testKeyDir(), authUrl: auth.url, account, password: PASSWORD });
}

async function start(f: ProjectFixture, nodeId: string, interval: string, env?: Record<string, string>): Promise<Sidecar> {
  const s = await startSidecar(f, { nodeId, interval, env });
  sidecars.push(s);
  return s;
}

it.concurrent('re-runs the attempt of a worker killed mid-attempt and counts it once', async () => {
  const f = await project('killed', 'acct-killed');
  // The server holds the answer for 4 s, so the sidecar is killed while the call is open.
  await request(auth.url, '/admin/faults', { token: auth.token, body: { mode: 'delay', ms: 4000, nodes: ['k1'] } });
  const first = await start(f, 'k1', '10s');
  const active = `${f.keys.bullPrefix}:${queueName('k1')}:active`;
  await waitFor('the catch-up attempt to be active', async () => (await redis.llen(active)) === 1, 20_000, 50);
  const [killedJob] = await redis.lrange(active, '0', '-1');
  await sleep(300);
  await first.kill();
  expect(await recordedAttempts(redis, f.keys, 'k1')).toEqual([]);
  await request(auth.url, '/admin/faults', { token: auth.token, method: 'DELETE' });

  await start(f, 'k1', '10s');
  // BullMQ finds the stalled job once its lock expires (5 s at this interval) and runs it again, same job id.
  await waitFor('the stalled attempt to be recorded', async () => (await recordedAttempts(redis, f.keys, 'k1')).includes(killedJob as string), 60_000, 200);
  await sleep(1500);
  const ids = await recordedAttempts(redis, f.keys, 'k1');
  expect(ids.filter((id) => id === killedJob)).toHaveLength(1);
  const record = await readNode(redis, f.keys, 'k1');
  expect(record?.attemptsTotal).toBe(ids.length);
  expect(record?.consecutiveFailures).toBe(0);
});

// Above the first streak below (three 30003 failures and a 30005 or two), which must not
// fail the project before a success resets it.
const THRESHOLD = 8;

it.concurrent('keeps the first reason of a streak, resets on success, fails at the threshold, and stays failed until register', async () => {
  const f = await project('streak', 'acct-streak');
  // The budget's shortest heartbeat (every failure here is the allow-list's, never a
  // stalled server's), and a threshold of 8: the rule is the same at 12, faster to reach.
  const node = await start(f, 's1', `${BUSY_INTERVAL_MS}ms`, { CLOUDAUTH_FAILURE_THRESHOLD: String(THRESHOLD) });
  await waitFor('a first success', async () => (await readNode(redis, f.keys, 's1'))?.lastSuccessAt != null, heartbeatsWaitMs(1, BUSY_INTERVAL_MS), 100);

  // The node's IP (127.0.0.1) leaves the allow-list: 30003.
  await createAccount(auth.url, auth.token, { account: 'acct-streak', password: PASSWORD, capacity: 10, allowedIps: ['10.0.0.0/8'] });
  await waitFor('3 failures', async () => ((await readNode(redis, f.keys, 's1'))?.consecutiveFailures ?? 0) >= 3, heartbeatsWaitMs(3, BUSY_INTERVAL_MS), 100);
  // The IP is allowed again but the app name is not: later failures are 30005.
  await createAccount(auth.url, auth.token, { account: 'acct-streak', password: PASSWORD, capacity: 10, allowedAppNames: ['other-app'] });
  await waitFor('a 30005 failure', async () => (await readNode(redis, f.keys, 's1'))?.latestReason?.code === 30005, heartbeatsWaitMs(2, BUSY_INTERVAL_MS), 100);
  let record = await readNode(redis, f.keys, 's1');
  expect(record?.reason?.code).toBe(30003);
  expect(record?.reason?.name).toBe('LICENSE_IP_ERROR');
  expect(record?.latestReason?.name).toBe('LICENSE_APPNAME_ERROR');

  // A success resets the streak.
  await createAccount(auth.url, auth.token, { account: 'acct-streak', password: PASSWORD, capacity: 10 });
  await waitFor(
    'the streak to reset',
    async () => (await readNode(redis, f.keys, 's1'))?.consecutiveFailures === 0,
    heartbeatsWaitMs(2, BUSY_INTERVAL_MS),
    100,
  );
  record = await readNode(redis, f.keys, 's1');
  expect(record?.reason).toBeNull();
  expect(record?.latestReason).toBeNull();

  // THRESHOLD consecutive failures: the node is failed; the shown reason is still the first.
  await createAccount(auth.url, auth.token, { account: 'acct-streak', password: PASSWORD, capacity: 10, allowedDomains: ['*.elsewhere.org'] });
  await waitFor(
    `${THRESHOLD} failures`,
    async () => ((await readNode(redis, f.keys, 's1'))?.consecutiveFailures ?? 0) >= THRESHOLD,
    heartbeatsWaitMs(THRESHOLD, BUSY_INTERVAL_MS),
    200,
  );
  record = await readNode(redis, f.keys, 's1');
  expect(record?.reason?.name).toBe('LICENSE_DOMAIN_ERROR');
  const history = (await redis.lrange(f.keys.history('s1'), '0', '-1')).map((e) => JSON.parse(e) as { code: number; attemptId: string });
  expect(history.length).toBeGreaterThanOrEqual(THRESHOLD + 3 + 1);
  expect(new Set(history.map((h) => h.attemptId)).size).toBe(history.length);
  const view = computeNodeStatus(record!, {
    now: record!.lastAttemptAt!,
    policy: { threshold: THRESHOLD, intervalMs: BUSY_INTERVAL_MS, failurePolicy: 'any' },
    registered: true,
    projectFailed: false,
  });
  expect(view).toBe('failed');

  // The project is marked failed (as the leader does): the node stops authenticating.
  // Counted on the node's own log (one line a skipped slot), not on the wall clock: an
  // attempt already under way when the verdict was written may still be recorded.
  const skipped = (): number => node.output().split('Project is marked failed').length - 1;
  await redis.hset(f.keys.status, 'status', 'failed', 'since', Date.now(), 'epoch', 1);
  await waitFor('a slot skipped for the failed project', () => skipped() >= 1, heartbeatsWaitMs(1, BUSY_INTERVAL_MS), 100);
  const frozen = (await readNode(redis, f.keys, 's1'))?.attemptsTotal;
  const seen = skipped();
  await waitFor('two more slots skipped', () => skipped() >= seen + 2, heartbeatsWaitMs(2, BUSY_INTERVAL_MS), 100);
  expect((await readNode(redis, f.keys, 's1'))?.attemptsTotal).toBe(frozen);

  // Re-registration clears it and makes the node authenticate at once.
  await createAccount(auth.url, auth.token, { account: 'acct-streak', password: PASSWORD, capacity: 10 });
  const { registration } = await registerCredential(redis, f.keys, { account: 'acct-streak', password: PASSWORD, keyDir: f.keyDir, defaultAlgorithm: 'rsa' });
  await waitFor(
    'a success after re-registration',
    async () => (await readNode(redis, f.keys, 's1'))?.consecutiveFailures === 0 && ((await readNode(redis, f.keys, 's1'))?.attemptsTotal ?? 0) > (frozen ?? 0),
    heartbeatsWaitMs(1, BUSY_INTERVAL_MS),
    100,
  );
  // The attempt is named for the registration's identity (its '.' made '_', as every job id).
  expect(await recordedAttempts(redis, f.keys, 's1')).toEqual(expect.arrayContaining([`registered-${registration.replace('.', '_')}`]));
});

it.concurrent(
  'records a credential this node cannot open as CREDENTIAL_UNREADABLE (a local reason naming crypto.keyDir), not as a connection failure',
  async () => {
    const f = await project('unreadable', 'acct-unreadable');
    // Another node's key pairs: the stored credential was encrypted for testKeyDir()'s.
    const otherKeys = mkdtempSync(path.join(os.tmpdir(), 'fdl-other-keys-'));
    for (const algorithm of ['rsa', 'sm2'] as const) {
      const pair = cipherFor(algorithm).generateKeyPair();
      writeFileSync(path.join(otherKeys, KEY_FILE_NAMES[algorithm].private), pair.privateKey, { mode: 0o600 });
      writeFileSync(path.join(otherKeys, KEY_FILE_NAMES[algorithm].public), pair.publicKey, { mode: 0o644 });
    }
    const s = await startSidecar({ ...f, keyDir: otherKeys }, { nodeId: 'u1' });
    sidecars.push(s);
    await waitFor('a recorded failure', async () => ((await readNode(redis, f.keys, 'u1'))?.consecutiveFailures ?? 0) >= 1, 30_000, 100);
    const record = await readNode(redis, f.keys, 'u1');
    expect(record?.reason).toMatchObject({ code: null, name: 'CREDENTIAL_UNREADABLE' });
    expect(record?.reason?.message).toMatch(/^not sent: .*crypto\.keyDir/);
    // Nothing reached the server: the node is not bound to the account.
    const account = await request(auth.url, '/admin/accounts/acct-unreadable', { token: auth.token, method: 'GET' });
    expect(account.json?.data.bound).toEqual([]);
    // Its own reason in the node's metrics too, never CONNECTION_FAILED.
    const metrics = (await s.get('/metrics')).text;
    expect(metrics).toMatch(/fdl_cloudauth_authentication_failures_total\{[^}]*reason="CREDENTIAL_UNREADABLE"\} [1-9]/);
    expect(metrics).toMatch(/fdl_cloudauth_authentication_failures_total\{[^}]*reason="CONNECTION_FAILED"\} 0/);
  },
);
