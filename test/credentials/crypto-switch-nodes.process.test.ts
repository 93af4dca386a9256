import { copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { registerProject, startSidecars, testKeyDir, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { KEY_FILE_NAMES, loadPublicKey } from '../../shared/crypto/key-files';
import type { StatusJson } from '../../daemon/view/status-json';

/**
 * SPEC R9: each node makes known which key ids it can open, and
 * `crypto switch` refuses — naming the nodes — to write a ciphertext that a live node
 * could not open; `--force` switches anyway and says so loudly. Real sidecars: n1 has
 * both key pairs, n2 only the RSA pair.
 */
jest.setTimeout(180_000);

const PASSWORD = 'switch-nodes-pw';
// Long enough that a node delayed by a busy machine is not taken for stale (1.5 intervals)
// while the switch checks it; the last test waits for staleness on purpose.
const INTERVAL = '4s';
let redis: Redis;
let auth: ChildAuthServer;
let fixture: ProjectFixture;
let rsaOnlyDir: string;
const sidecars = new Map<string, Sidecar>();

const env = () => ({
  CLOUDAUTH_PROJECT: 'keys',
  CLOUDAUTH_REDIS_URL: fixture.redisUrl,
  CLOUDAUTH_REDIS_KEY_PREFIX: fixture.keyPrefix,
  CLOUDAUTH_KEY_DIR: fixture.keyDir,
  CLOUDAUTH_HEARTBEAT_INTERVAL: INTERVAL,
});

const algorithm = async () => redis.hget(fixture.keys.credential, 'algorithm');
const status = async (): Promise<StatusJson> => JSON.parse((await runCli(['status', '--json'], env())).stdout) as StatusJson;

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
  auth = await spawnAuthServer({ redisUrl: server.url });
  await createAccount(auth.url, auth.token, { account: 'keys', password: PASSWORD, capacity: 5 });
  fixture = await registerProject({
    project: 'keys',
    keyPrefix: testPrefix('keys'),
    redisUrl: server.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'keys',
    password: PASSWORD,
  });
  rsaOnlyDir = mkdtempSync(path.join(os.tmpdir(), 'fdl-keys-rsa-only-'));
  for (const file of Object.values(KEY_FILE_NAMES.rsa)) copyFileSync(path.join(fixture.keyDir, file), path.join(rsaOnlyDir, file));
  const started = await startSidecars(fixture, [
    { nodeId: 'n1', interval: INTERVAL },
    { nodeId: 'n2', interval: INTERVAL, env: { CLOUDAUTH_KEY_DIR: rsaOnlyDir } },
  ]);
  for (const s of started) sidecars.set(s.nodeId, s);
});

afterAll(async () => {
  await Promise.all([...sidecars.values()].map((s) => s.stop()));
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

it('each node publishes the key ids it can open', async () => {
  const rsa = `rsa:${loadPublicKey(fixture.keyDir, 'rsa').keyId}`;
  const sm2 = `sm2:${loadPublicKey(fixture.keyDir, 'sm2').keyId}`;
  await waitFor('both nodes to publish their key ids', async () => (await redis.hlen(fixture.keys.keyIds)) === 2, 20_000, 100);
  expect(await redis.hgetall(fixture.keys.keyIds)).toEqual({ n1: [rsa, sm2].sort().join(','), n2: rsa });
  await waitFor('both nodes registered', async () => (await status()).nodes.filter((n) => n.status === 'ok').length === 2, 20_000, 200);
});

it('refuses a switch a live node could not follow, naming it, and changes nothing', async () => {
  const sm2 = loadPublicKey(fixture.keyDir, 'sm2').keyId;
  const run = await runCli(['crypto', 'switch', '--to', 'sm2'], env());
  expect(run.code).toBe(1);
  expect(run.stderr).toContain('project keys: not switched');
  expect(run.stderr).toMatch(/live node\(s\) n2 \(can open rsa:[0-9a-f]+ only\)/);
  expect(run.stderr).not.toMatch(/\bn1\b/);
  expect(run.stderr).toContain(`sm2:${sm2}`);
  expect(run.stderr).toContain(KEY_FILE_NAMES.sm2.private);
  expect(run.stderr).toContain('--force');
  expect(await algorithm()).toBe('rsa');
  // Nothing secret in what it says.
  expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  expect(run.stdout + run.stderr).not.toContain((await redis.hget(fixture.keys.credential, 'ciphertext')) as string);
});

it('--force switches anyway and says loudly which nodes will fail; a switch back that every node can follow is silent', async () => {
  const forced = await runCli(['crypto', 'switch', '--to', 'sm2', '--force'], env());
  expect(forced.code).toBe(0);
  expect(forced.stderr).toMatch(
    /^WARNING: --force: switching project keys to sm2 although live node\(s\) n2 \(can open rsa:[0-9a-f]+ only\) cannot open the new ciphertext/m,
  );
  expect(forced.stdout).toContain('project keys: switched from rsa to sm2');
  expect(await algorithm()).toBe('sm2');
  // n2 then really fails: it cannot open the credential.
  await waitFor('n2 to fail on the sm2 credential', async () => ((await status()).nodes.find((n) => n.id === 'n2')?.consecutiveFailures ?? 0) > 0, 20_000, 200);

  const back = await runCli(['crypto', 'switch', '--to', 'rsa'], env());
  expect(back.code).toBe(0);
  expect(back.stderr).toBe('');
  expect(await algorithm()).toBe('rsa');
});

it('does not wait for a stale node, but names it', async () => {
  expect(await (sidecars.get('n2') as Sidecar).stop()).toBe(0);
  await waitFor('n2 stale', async () => (await status()).nodes.find((n) => n.id === 'n2')?.status === 'stale', 20_000, 200);
  const run = await runCli(['crypto', 'switch', '--to', 'sm2'], env());
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('project keys: switched from rsa to sm2');
  expect(run.stderr).toMatch(/note: project keys: stale node\(s\) n2 were not checked/);
  expect(await algorithm()).toBe('sm2');
});
