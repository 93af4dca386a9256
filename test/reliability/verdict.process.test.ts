import { readFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { registerCredential } from '../../daemon/credentials/register-credential';
import type { StatusJson } from '../../daemon/view/status-json';
import { createAccount, spawnAuthServer, TEST_ADMIN_TOKEN, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { heartbeatsWaitMs, HEALTHY_INTERVAL_MS, LEADER_ENV } from '../../harness/noise-budget';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { gauge } from '../support/sidecar-metrics';
import { readNode, recordedAttempts, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';

/**
 * Nothing unknown fails a project, and no registration is rolled back, with real sidecars, a real Redis and the reference server as an operator
 * meets it: nothing unknown fails a project, and no registration is rolled back.
 * - unknown members and damaged keys: policy `all`, n1 failing (IP outside the allow-list), n2 healthy. n2's
 *   record damaged, then made a string, then lost with the rest of Redis's data while
 *   n2 is down: the project stays `degraded` throughout (n2 an unknown member), `status`
 *   and `/status` keep working, and n2 records again when it returns.
 * - generation order: the project fails at generation 1 while n2 holds that verdict; n2 stops;
 *   `register` makes generation 2; Redis loses its data; n2 starts first and restores
 *   what it holds — then n1 starts and puts back the newer registration, and both
 *   converge on it.
 * Sidecars run the noise budget's heartbeat and leader timings (their defaults).
 */
jest.setTimeout(300_000);

const PASSWORD = 'verdict-pw-1';
const THRESHOLD = 2;
const WAIT = heartbeatsWaitMs(THRESHOLD + 2);
let projectRedis: TestRedis;
let admin: Redis;
let auth: ChildAuthServer;
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  projectRedis = await startRedis();
  // The server's own data lives apart: the project's Redis is flushed below.
  const authRedis = await startRedis();
  admin = new Redis(projectRedis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  admin.on('error', () => undefined);
  auth = await spawnAuthServer({ redisUrl: authRedis.url });
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop().catch(() => undefined)));
  admin?.disconnect();
  await auth?.stop();
  await disposeAllRedis();
});

interface Cluster {
  fixture: ProjectFixture;
  env: Record<string, string>;
  start(nodeId: string, ip: string, journalDir?: string): Promise<Sidecar>;
  status(): Promise<StatusJson>;
}

async function cluster(project: string, policy: string, allowed: string): Promise<Cluster> {
  await createAccount(auth.url, TEST_ADMIN_TOKEN, { account: project, password: PASSWORD, capacity: 5, allowedIps: [allowed] });
  const fixture = await registerProject({
    project,
    keyPrefix: testPrefix(project),
    redisUrl: projectRedis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: project,
    password: PASSWORD,
  });
  const env = { CLOUDAUTH_FAILURE_POLICY: policy, CLOUDAUTH_FAILURE_THRESHOLD: String(THRESHOLD), ...LEADER_ENV };
  const cliEnv = {
    CLOUDAUTH_PROJECT: project,
    CLOUDAUTH_REDIS_URL: projectRedis.url,
    CLOUDAUTH_REDIS_KEY_PREFIX: fixture.keyPrefix,
    CLOUDAUTH_HEARTBEAT_INTERVAL: `${HEALTHY_INTERVAL_MS}ms`,
    ...env,
  };
  return {
    fixture,
    env: cliEnv,
    start: async (nodeId, ip, journalDir) => {
      const s = await startSidecar(fixture, { nodeId, journalDir, env: { ...env, CLOUDAUTH_NODE_IP: ip } });
      sidecars.push(s);
      return s;
    },
    status: async () => {
      const run = await runCli(['status', '--json'], cliEnv);
      if (run.code !== 0) throw new Error(`status exited ${run.code}: ${run.stderr}`);
      return JSON.parse(run.stdout) as StatusJson;
    },
  };
}

/** What a sidecar keeps in its local state file. */
function held(s: Sidecar): { members: Record<string, number> | null; verdict: unknown; credential: { generation: number } | null } {
  return JSON.parse(readFileSync(path.join(s.journalDir, `state-${s.nodeId}.json`), 'utf8')) as ReturnType<typeof held>;
}

describe('unknown members (missing or damaged records)', () => {
  it('a damaged, wrong-type or lost record of a member never fails the project under `all`', async () => {
    const c = await cluster('unk', 'all', '10.20.0.2/32');
    const keys = c.fixture.keys;
    // n2 first: under `all`, n1 failing alone would be 1 failed of 1 member, a project rightly failed.
    const n2 = await c.start('n2', '10.20.0.2');
    await waitFor('n2 to be a member', async () => (await readNode(admin, keys, 'n2')) !== null, WAIT, 200);
    const n1 = await c.start('n1', '10.20.0.9');
    await waitFor(
      'n1 failed, n2 healthy, both holding the membership',
      async () => {
        const [r1, r2] = [await readNode(admin, keys, 'n1'), await readNode(admin, keys, 'n2')];
        return (
          (r1?.consecutiveFailures ?? 0) >= THRESHOLD &&
          r2?.consecutiveFailures === 0 &&
          [n1, n2].every(
            (s) =>
              Object.keys(held(s).members ?? {})
                .sort()
                .join() === 'n1,n2',
          )
        );
      },
      WAIT,
      200,
    );
    expect((await c.status()).status).toBe('degraded');

    // n2 goes down, and its record is damaged by hand.
    await n2.stop();
    await admin.hset(keys.node('n2'), 'latestReason', '{broken');
    let s = await c.status();
    expect(s).toMatchObject({ status: 'degraded', unknownMembers: [{ id: 'n2', why: 'unreadable' }] });
    expect(s.nodes.map((n) => n.id)).toEqual(['n1']);
    expect((await n1.get('/status')).status).toBe(200);

    // Worse: a string where the hash was.
    await admin.del(keys.node('n2'));
    await admin.set(keys.node('n2'), 'junk');
    s = await c.status();
    expect(s).toMatchObject({ status: 'degraded', unknownMembers: [{ id: 'n2', why: 'unreadable' }] });
    const page = await n1.get('/status');
    expect(page.status).toBe(200);
    expect(JSON.parse(page.text)).toMatchObject({ status: 'degraded' });
    // The leader (n1, the only sidecar) has read the damage since: counted like a corrupt record.
    await waitFor('the damage counted', async () => (await gauge(n1, 'fdl_cloudauth_corrupt_records_total')) >= 2, WAIT, 200);

    // n2 returns: its string is removed, its record put back, and it records again (not into its journal).
    const attemptsBefore = (await recordedAttempts(admin, keys, 'n2')).length;
    const back = await c.start('n2', '10.20.0.2', n2.journalDir);
    await waitFor(
      'n2 recording again',
      async () => {
        const type = await admin.type(keys.node('n2'));
        return (
          type === 'hash' && (await recordedAttempts(admin, keys, 'n2')).length > attemptsBefore && (await gauge(back, 'fdl_cloudauth_journal_pending')) === 0
        );
      },
      WAIT,
      200,
    );
    await waitFor('n2 known again', async () => (await c.status()).unknownMembers.length === 0, WAIT, 200);
    // Its recovery step, at start, finds the string before any read of the record does.
    expect(back.output()).toContain('A key of this node held a value of the wrong type: removed, and put back from what this node holds');

    // Redis loses its data while n2 is down: n1 puts back the membership it holds.
    await back.stop();
    await admin.flushall();
    await waitFor(
      'n1 to restore the project with n2 as a member',
      async () => (await admin.zscore(keys.nodes, 'n2')) !== null && (await readNode(admin, keys, 'n1')) !== null,
      WAIT,
      200,
    );
    s = await c.status();
    expect(s).toMatchObject({ status: 'degraded', unknownMembers: [{ id: 'n2', why: 'missing' }] });
    expect(s.recovery?.restoredBy.n1).toEqual(expect.arrayContaining(['credential', 'node', 'members']));
    // The leader writes what it computed from the restored project (the status hash went with the data).
    await waitFor('the leader to write the status again', async () => (await admin.hget(keys.status, 'status')) !== null, WAIT, 200);
    expect(await admin.hget(keys.status, 'status')).toBe('degraded');

    // n2 starts again: it restores its own record, and the project is whole, still degraded.
    const again = await c.start('n2', '10.20.0.2', n2.journalDir);
    await waitFor(
      'n2 back in the view',
      async () => {
        const v = await c.status();
        return v.unknownMembers.length === 0 && v.nodes.length === 2;
      },
      WAIT,
      200,
    );
    expect((await c.status()).status).toBe('degraded');
    // Never failed since the loss: `failed` is sticky, so a failed written at any moment would still be there.
    expect(await admin.hget(keys.status, 'status')).toBe('degraded');
    await again.stop();
    await n1.stop();
  });
});

describe('generation order', () => {
  it('a node that was down during a re-register restores its older registration first; the newer one wins when its holder starts', async () => {
    const c = await cluster('gen', 'any', '10.30.0.1/32');
    const n1 = await c.start('n1', '10.30.0.1');
    const n2 = await c.start('n2', '10.30.0.9');
    const keys = c.fixture.keys;
    await waitFor(
      'the project to fail at generation 1, both nodes holding the verdict',
      async () => (await admin.hget(keys.status, 'status')) === 'failed' && [n1, n2].every((s) => held(s).verdict !== null),
      WAIT,
      200,
    );

    // n2 stops; the cause is fixed and the project registered again.
    await n2.stop();
    await createAccount(auth.url, TEST_ADMIN_TOKEN, { account: 'gen', password: PASSWORD, capacity: 5, allowedIps: ['10.30.0.0/24'] });
    const result = await registerCredential(admin, keys, { account: 'gen', password: PASSWORD, keyDir: c.fixture.keyDir, defaultAlgorithm: 'rsa' });
    expect(result.generation).toBe(2);
    await waitFor(
      'registered at generation 2, n1 holding it',
      async () => (await c.status()).status === 'registered' && held(n1).credential?.generation === 2,
      WAIT,
      200,
    );

    // Redis loses its data; n2 (holding generation 1 and its failed verdict) starts first.
    await n1.stop();
    await admin.flushall();
    const n2again = await c.start('n2', '10.30.0.9', n2.journalDir);
    await waitFor('n2 to restore what it holds', async () => (await admin.hget(keys.credential, 'generation')) !== null, WAIT, 200);
    // n1 starts: its newer registration replaces the older one, and the verdict about generation 1 goes with it.
    const n1again = await c.start('n1', '10.30.0.1', n1.journalDir);
    await waitFor('generation 2 back in Redis', async () => (await admin.hget(keys.credential, 'generation')) === '2', WAIT, 200);
    await waitFor(
      'both nodes registered under generation 2',
      async () => {
        const s = await c.status();
        return s.status === 'registered' && s.nodes.every((n) => n.status === 'ok') && s.nodes.length === 2;
      },
      WAIT,
      200,
    );
    expect(held(n1again).credential?.generation).toBe(2);
    expect(held(n2again).credential?.generation).toBe(2);
    expect(held(n2again).verdict).toBeNull();
    expect(await admin.hget(keys.status, 'status')).toBe('registered');
  });
});
