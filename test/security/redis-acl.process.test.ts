import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { projectUserName, projectUserRules } from '../../shared/redis/acl-rules';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { aclDenials, projectUserUrl, resetAclLog } from '../../harness/project-acl';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { readNode, registerProject, startSidecars, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { waitFor } from '../../harness/wait';

/**
 * The least-privilege Redis user of deploy/redis/ (issue 28, item 8), on real
 * processes. Two projects share one Redis, each sidecar runs as its project's user
 * (support/project-acl.ts, as every process test's sidecars do):
 * - a healthy run — register, two sidecars authenticating, a leader, /readyz, /status,
 *   the CLI's `status` and `failures`, a graceful stop — leaves the ACL LOG empty;
 * - `register` and `crypto switch` of project B with project A's user are refused by
 *   Redis itself (NOPERM), and B's credential is unchanged (before: B was re-registered
 *   with A's keys, and B's nodes failed CREDENTIAL_UNREADABLE);
 * - `doctor` passes A's user, warns about a user that can do more, and names the
 *   missing command of a user that can do less.
 */
jest.setTimeout(120_000);

let server: TestRedis;
let admin: Redis;
let auth: ChildAuthServer;
let keyPrefix: string;
let a: ProjectFixture;
let b: ProjectFixture;
const sidecars: Sidecar[] = [];
const journalDir = mkdtempSync(path.join(os.tmpdir(), 'fdl-acl-journal-'));

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
  auth = await spawnAuthServer({ redisUrl: server.url });
  await createAccount(auth.url, auth.token, { account: 'acl-a', password: 'pw-acl-a-1', capacity: 5 });
  await createAccount(auth.url, auth.token, { account: 'acl-b', password: 'pw-acl-b-1', capacity: 5 });
  keyPrefix = testPrefix('acl');
  const common = { keyPrefix, redisUrl: server.url, keyDir: testKeyDir(), authUrl: auth.url };
  a = await registerProject({ ...common, project: 'pa', account: 'acl-a', password: 'pw-acl-a-1' });
  b = await registerProject({ ...common, project: 'pb', account: 'acl-b', password: 'pw-acl-b-1' });
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  admin?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
  rmSync(journalDir, { recursive: true, force: true });
});

function cliEnv(project: string, redisUrl: string): Record<string, string> {
  return {
    CLOUDAUTH_PROJECT: project,
    CLOUDAUTH_REDIS_URL: redisUrl,
    CLOUDAUTH_REDIS_KEY_PREFIX: keyPrefix,
    CLOUDAUTH_KEY_DIR: testKeyDir(),
    CLOUDAUTH_NODE_ID: 'doctor-node',
    CLOUDAUTH_NODE_IP: '127.0.0.1',
    CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
    CLOUDAUTH_AUTH_SERVER_URL: auth.url,
    CLOUDAUTH_JOURNAL_DIR: journalDir,
  };
}

interface DoctorCheck {
  id: string;
  ok: boolean;
  required: boolean;
  detail: string;
}

async function doctorChecks(redisUrl: string): Promise<DoctorCheck[]> {
  const run = await runCli(['doctor', '--json', '--management-center', auth.url], cliEnv('pa', redisUrl));
  return (JSON.parse(run.stdout) as { checks: DoctorCheck[] }).checks;
}

const byId = (checks: DoctorCheck[], id: string) => checks.find((c) => c.id === id);

it("runs register, two sidecars, a leader, /readyz, /status, status and failures under the project's user with an empty ACL LOG", async () => {
  await resetAclLog();
  const urlA = await projectUserUrl(server.url, keyPrefix, 'pa');
  // register as the project's user, as a node's operator would.
  const register = await runCli(['register', '--account', 'acl-a', '--password-stdin'], cliEnv('pa', urlA), 'pw-acl-a-1\n');
  expect(register.stderr).toBe('');
  expect(register.code).toBe(0);

  sidecars.push(...(await startSidecars(a, [{ nodeId: 'a1' }, { nodeId: 'a2' }])));
  for (const nodeId of ['a1', 'a2']) {
    await waitFor(`${nodeId} to authenticate`, async () => ((await readNode(admin, a.keys, nodeId))?.lastSuccessAt ?? 0) > 0, 60_000, 200);
  }
  await waitFor('a leader', async () => (await admin.get(a.keys.leader)) !== null, 30_000, 100);
  await waitFor('the project registered in /status', async () => /"registered"/.test((await sidecars[0]!.get('/status')).text), 30_000, 200);
  for (const s of sidecars) expect((await s.get('/readyz')).status).toBe(200);

  const status = await runCli(['status'], cliEnv('pa', urlA));
  expect(status.code).toBe(0);
  expect(status.stdout).toContain('a1');
  expect((await runCli(['failures'], cliEnv('pa', urlA))).code).toBe(0);

  expect(await Promise.all(sidecars.splice(0).map((s) => s.stop()))).toEqual([0, 0]);
  expect(await aclDenials(server)).toEqual([]);
  expect(await admin.call('ACL', 'LOG')).toEqual([]);
});

it("refuses register and crypto switch of another project with this project's user (NOPERM), and the other project keeps its credential", async () => {
  const urlA = await projectUserUrl(server.url, keyPrefix, 'pa');
  const before = await admin.hgetall(b.keys.credential);
  expect(before.keyId).toBeTruthy();

  const register = await runCli(['register', '--account', 'acl-a', '--password-stdin'], cliEnv('pb', urlA), 'pw-acl-a-1\n');
  expect(register.code).not.toBe(0);
  expect(register.stderr).toMatch(/NOPERM|no permissions/);
  expect(register.stderr).not.toContain('pw-acl-a-1');

  const crypto = await runCli(['crypto', 'switch', '--to', 'sm2', '--force'], cliEnv('pb', urlA));
  expect(crypto.code).not.toBe(0);
  expect(crypto.stderr).toMatch(/NOPERM|no permissions/);

  expect(await admin.hgetall(b.keys.credential)).toEqual(before);
  const denials = await aclDenials(server);
  expect(denials.length).toBeGreaterThan(0);
  for (const line of denials) expect(line).toMatch(new RegExp(`^${projectUserName(keyPrefix, 'pa')}: `));
  // Refused on purpose: not a missing permission of the product.
  await resetAclLog();
});

it('doctor: passes the project user, warns about one that can do more, names the command one that can do less lacks', async () => {
  const urlA = await projectUserUrl(server.url, keyPrefix, 'pa');
  const own = await doctorChecks(urlA);
  expect(byId(own, 'redis-user')).toMatchObject({ ok: true });
  expect(byId(own, 'redis-user-scope')).toMatchObject({ ok: true });

  // The server's default user can do anything: a warning, not an error.
  const everything = await doctorChecks(server.url);
  expect(byId(everything, 'redis-user')).toMatchObject({ ok: true });
  expect(byId(everything, 'redis-user-scope')).toMatchObject({ ok: false, required: false });
  expect(byId(everything, 'redis-user-scope')?.detail).toMatch(/FLUSHALL.*another project's keys/);

  // A user without BZPOPMIN (a BullMQ worker's wait): an error naming it.
  const name = `${keyPrefix}-lesser`;
  await admin.call('ACL', 'SETUSER', name, ...projectUserRules(keyPrefix, 'pa', { without: ['bzpopmin', 'client|setinfo'] }), '>lesser-pw-1234');
  const lesser = new URL(server.url);
  lesser.username = name;
  lesser.password = 'lesser-pw-1234';
  const less = await doctorChecks(lesser.toString());
  expect(byId(less, 'redis-user')).toMatchObject({ ok: false, required: true });
  expect(byId(less, 'redis-user')?.detail).toContain('BZPOPMIN');
  expect(byId(less, 'redis-user')?.detail).not.toContain('lesser-pw-1234');
  // The probes refused on purpose are in the ACL LOG like any refusal.
  await resetAclLog();
});
