import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import { boundNodes, closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { writeKeyPairs } from '../support/key-dirs';
import { freePort } from '../../harness/ports';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';

/**
 * `register` checks the account and password with the authorization server before it
 * stores anything (issue 32): a wrong password is refused with its catalog reason and
 * steps, and Redis holds no credential afterwards; `--no-verify` stores offline with a
 * warning. Real CLI processes, a real redis-server and the reference server in its own
 * process.
 */
const ACCOUNT = 'acme';
const PASSWORD = 'right-Pässwörd-42';
const WRONG = 'wrong-password-17';

let redis: TestRedis;
let client: Redis;
let server: ChildAuthServer;
const dirs: string[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  server = await spawnAuthServer({ redisUrl: redis.url });
  await createAccount(server.url, server.token, { account: ACCOUNT, password: PASSWORD, capacity: 3 });
});

afterAll(async () => {
  client.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function keyDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-register-'));
  dirs.push(dir);
  return writeKeyPairs(path.join(dir, 'keys'));
}

/** A node's configuration as the quick-start writes it: Redis, the server, this node. */
function nodeEnv(prefix: string, nodeId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CLOUDAUTH_REDIS_URL: redis.url,
    CLOUDAUTH_REDIS_KEY_PREFIX: prefix,
    CLOUDAUTH_KEY_DIR: keyDir(),
    CLOUDAUTH_PROJECT: 'sales',
    CLOUDAUTH_NODE_ID: nodeId,
    CLOUDAUTH_NODE_IP: '10.0.0.21',
    CLOUDAUTH_NODE_DOMAIN: 'fdl.example.com',
    CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
    CLOUDAUTH_AUTH_SERVER_URL: server.url,
    ...extra,
  };
}

async function keysUnder(prefix: string): Promise<string[]> {
  return (await client.keys(`${prefix}*`)).sort();
}

describe('register checks the password before it stores', () => {
  it('refuses a wrong password with the catalog reason and its steps, and stores nothing', async () => {
    const prefix = testPrefix('regv');
    const run = await runCli(['register', '--account', ACCOUNT, '--password-stdin'], nodeEnv(prefix, 'reg-n1'), `${WRONG}\n`);
    if (process.env.SHOW_CLI_OUTPUT) console.log(run.stderr);
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain('registered project');
    expect(run.stderr).toContain('30006 ACCOUNT_INPUT_ERROR');
    expect(run.stderr).toContain('nothing was stored');
    expect(run.stderr).toContain('after 10 in 15 minutes');
    // The catalog's steps: what to check and what to change.
    expect(run.stderr).toMatch(/check: .*password/i);
    expect(run.stderr).toMatch(/change: /i);
    expect(`${run.stdout}${run.stderr}`).not.toContain(WRONG);
    expect(await client.exists(new ProjectKeys(prefix, 'sales').credential)).toBe(0);
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('stores a password the server accepts, having authenticated as this node (which binds it)', async () => {
    const prefix = testPrefix('regv');
    const run = await runCli(['register', '--account', ACCOUNT, '--password-stdin'], nodeEnv(prefix, 'reg-n2'), `${PASSWORD}\n`);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('checked with the authorization server as node reg-n2');
    expect(run.stdout).toContain('registered project sales');
    expect(await client.hget(new ProjectKeys(prefix, 'sales').credential, 'account')).toBe(ACCOUNT);
    expect(await boundNodes(server.url, server.token, ACCOUNT)).toContain('reg-n2');
  });

  it('refuses a license the node cannot hold (30003), naming the reason, and stores nothing', async () => {
    const prefix = testPrefix('regv');
    await createAccount(server.url, server.token, { account: 'narrow', password: PASSWORD, allowedIps: ['192.168.0.0/24'] });
    const run = await runCli(['register', '--account', 'narrow', '--password-stdin'], nodeEnv(prefix, 'reg-n3'), `${PASSWORD}\n`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('30003 LICENSE_IP_ERROR');
    expect(run.stderr).toContain('node.ip 10.0.0.21');
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('says the server could not be reached, stores nothing, and names --no-verify for a site whose firewall is still closed', async () => {
    const prefix = testPrefix('regv');
    const closed = `http://127.0.0.1:${await freePort()}`;
    const run = await runCli(
      ['register', '--account', ACCOUNT, '--password-stdin'],
      nodeEnv(prefix, 'reg-n4', { CLOUDAUTH_AUTH_SERVER_URL: closed, CLOUDAUTH_HEARTBEAT_RETRIES: '0' }),
      `${PASSWORD}\n`,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('CONNECTION_FAILED');
    expect(run.stderr).toContain('--no-verify');
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('needs authServer.url (and this node) to check, and says so with --no-verify as the way round', async () => {
    const prefix = testPrefix('regv');
    const env = nodeEnv(prefix, 'reg-n5');
    delete env.CLOUDAUTH_AUTH_SERVER_URL;
    delete env.CLOUDAUTH_PRODUCT_VERSION;
    const run = await runCli(['register', '--account', ACCOUNT, '--password-stdin'], env, `${PASSWORD}\n`);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('authServer.url (CLOUDAUTH_AUTH_SERVER_URL)');
    expect(run.stderr).toContain('product.version (CLOUDAUTH_PRODUCT_VERSION)');
    expect(run.stderr).toContain('--no-verify');
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('says a missing key file before it asks the server, so the check binds nothing', async () => {
    const prefix = testPrefix('regv');
    const missing = path.join(keyDir(), '..', 'no-keys-here');
    const run = await runCli(
      ['register', '--account', ACCOUNT, '--password-stdin'],
      nodeEnv(prefix, 'reg-n7', { CLOUDAUTH_KEY_DIR: missing }),
      `${PASSWORD}\n`,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(path.join(missing, 'rsa-public.pem'));
    expect(await boundNodes(server.url, server.token, ACCOUNT)).not.toContain('reg-n7');
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('--no-verify stores without asking the server, and warns on a line of its own', async () => {
    const prefix = testPrefix('regv');
    const env = nodeEnv(prefix, 'reg-n6');
    delete env.CLOUDAUTH_AUTH_SERVER_URL;
    const run = await runCli(['register', '--account', ACCOUNT, '--password-stdin', '--no-verify'], env, `${WRONG}\n`);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^warning: the password was NOT checked/m);
    expect(run.stdout).toContain('registered project sales');
    expect(await client.hget(new ProjectKeys(prefix, 'sales').credential, 'account')).toBe(ACCOUNT);
    expect(`${run.stdout}${run.stderr}`).not.toContain(WRONG);
  });
});
