import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { BUSY_INTERVAL_MS, heartbeatsWaitMs } from '../../harness/noise-budget';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli, type CliRun } from '../support/cli';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { readNode, startSidecar, type ProjectFixture, type Sidecar } from '../../harness/sidecar';
import { ProjectKeys } from '../../shared/redis/keys';

/**
 * A full cycle through the real CLI and a real sidecar — keys, register, attempts,
 * failures, crypto switch, status, failures --details, unbind — with every log line
 * and every answer captured: no password, private key or ciphertext appears anywhere
 * (SPEC R9). Also the unbind command's two answers (freed, and 20000 in plain words).
 */
jest.setTimeout(150_000);

const PASSWORD = 'S3cret-Pässwörd!';
let redis: Redis;
let auth: ChildAuthServer;
let sidecar: Sidecar | undefined;
const outputs: string[] = [];

afterAll(async () => {
  await sidecar?.stop();
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

it('never shows a password, key or ciphertext, from keys generate to unbind', async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
  // At debug, as the in-process server logged: every line the server can write is checked.
  auth = await spawnAuthServer({ redisUrl: server.url, env: { CLOUDAUTH_LOG_LEVEL: 'debug' } });
  await createAccount(auth.url, auth.token, { account: 'cycle', password: PASSWORD, capacity: 3 });
  const keyDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'fdl-cycle-')), 'keys');
  const keyPrefix = testPrefix('cycle');
  const env = {
    CLOUDAUTH_PROJECT: 'cycle',
    CLOUDAUTH_REDIS_URL: server.url,
    CLOUDAUTH_REDIS_KEY_PREFIX: keyPrefix,
    CLOUDAUTH_KEY_DIR: keyDir,
    CLOUDAUTH_AUTH_SERVER_URL: auth.url,
    // register checks the password as this node: the sidecar's node, so it binds no other slot.
    CLOUDAUTH_NODE_ID: 'c1',
    CLOUDAUTH_NODE_IP: '127.0.0.1',
    CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
    CLOUDAUTH_LOG_LEVEL: 'debug',
  };
  const cli = async (args: string[], stdin?: string): Promise<CliRun> => {
    const run = await runCli(args, env, stdin);
    outputs.push(run.stdout, run.stderr);
    return run;
  };
  const keys = new ProjectKeys(keyPrefix, 'cycle');
  const fixture: ProjectFixture = { project: 'cycle', keyPrefix, redisUrl: server.url, keys, keyDir, authUrl: auth.url, account: 'cycle', password: PASSWORD };

  expect((await cli(['keys', 'generate', '--dir', keyDir])).code).toBe(0);
  expect((await cli(['register', '--account', 'cycle', '--password-stdin'], `${PASSWORD}\n`)).code).toBe(0);
  const ciphertexts = [await redis.hget(keys.credential, 'ciphertext')];

  // The budget's shortest heartbeat: the streak asserted below is the allow-list's, never
  // a stalled server's CONNECTION_FAILED.
  sidecar = await startSidecar(fixture, { nodeId: 'c1', interval: `${BUSY_INTERVAL_MS}ms` });
  await waitFor('a success', async () => (await readNode(redis, keys, 'c1'))?.lastSuccessAt != null, 20_000, 100);
  await createAccount(auth.url, auth.token, { account: 'cycle', password: PASSWORD, capacity: 3, allowedIps: ['10.9.0.0/16'] });
  await waitFor('two failures', async () => ((await readNode(redis, keys, 'c1'))?.consecutiveFailures ?? 0) >= 2, heartbeatsWaitMs(2, BUSY_INTERVAL_MS), 100);

  const switched = await cli(['crypto', 'switch', '--to', 'sm2']);
  expect(switched.code).toBe(0);
  ciphertexts.push(await redis.hget(keys.credential, 'ciphertext'));
  expect(await redis.hget(keys.credential, 'algorithm')).toBe('sm2');
  await createAccount(auth.url, auth.token, { account: 'cycle', password: PASSWORD, capacity: 3 });
  // The agent opens the sm2 ciphertext with the sm2 private key: authentication goes on.
  await waitFor(
    'a success after the switch',
    async () => (await readNode(redis, keys, 'c1'))?.consecutiveFailures === 0,
    heartbeatsWaitMs(1, BUSY_INTERVAL_MS),
    100,
  );

  expect((await cli(['status'])).code).toBe(0);
  const failures = await cli(['failures', '--details']);
  expect(failures.code).toBe(0);
  expect(failures.stdout).toContain('LICENSE_IP_ERROR');

  expect(await sidecar.stop()).toBe(0);
  outputs.push(sidecar.output());
  sidecar = undefined;
  const unbound = await cli(['unbind', '--node', 'c1']);
  expect(unbound.code).toBe(0);
  expect(unbound.stdout).toContain('node c1 unbound');
  expect(unbound.stdout).toContain('removed from the status of project cycle');
  expect(await redis.zscore(keys.nodes, 'c1')).toBeNull();
  // Its failure history stays readable after the unbind.
  const history = await cli(['failures', '--node', 'c1', '--json']);
  expect(history.code).toBe(0);
  expect((JSON.parse(history.stdout) as Array<{ name: string }>).some((f) => f.name === 'LICENSE_IP_ERROR')).toBe(true);
  const again = await cli(['unbind', '--node', 'c1']);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('nothing to unbind (20000 DO_NOT_NEED_DEACTIVATE)');
  outputs.push(...auth.logLines);

  const secrets = [PASSWORD, auth.token, ...(ciphertexts as string[])];
  for (const file of readdirSync(keyDir).filter((f) => f.includes('private'))) {
    const text = readFileSync(path.join(keyDir, file), 'utf8');
    // Every line of key material (PEM body lines, or the SM2 hex key) must be absent.
    secrets.push(
      ...text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length >= 32 && !l.startsWith('-----')),
    );
  }
  const all = outputs.join('\n');
  expect(all.length).toBeGreaterThan(5000);
  for (const secret of secrets) expect(all.includes(secret)).toBe(false);
  // The password in its JSON-escaped form too (ä, ö).
  expect(all.includes(JSON.stringify(PASSWORD).slice(1, -1))).toBe(false);
});
