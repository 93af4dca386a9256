import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import type { Config } from '../../shared/config/compile';
import { readCredential } from '../../daemon/credentials/credential-store';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { unbindNode } from '../../daemon/credentials/unbind-node';
import { ProjectViewReader } from '../../daemon/view/project-view';
import { authenticate, boundNodes, closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { writeKeyPairs } from '../support/key-dirs';
import { writeNodeRecord } from '../../harness/node-records';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { DEFAULT_POLICY, silentLog } from '../../harness/sidecar-parts';

/**
 * `status` right after an unbind (issue 32): the license slots it shows come from the
 * node with the latest success, as that node last heard them from the server, so an
 * unbind must bring them up to date at once — not at the next heartbeat, up to 2 h
 * later. Real Redis, the reference server in its own process.
 */
const ACCOUNT = 'slots';
const PASSWORD = 'slots-password-1';

let redis: Redis;
let server: ChildAuthServer;
let keyDir: string;

beforeAll(async () => {
  const r = await startRedis();
  redis = new Redis(r.url);
  server = await spawnAuthServer({ redisUrl: r.url });
  await createAccount(server.url, server.token, { account: ACCOUNT, password: PASSWORD, capacity: 5 });
  keyDir = writeKeyPairs(path.join(mkdtempSync(path.join(os.tmpdir(), 'fdl-unbind-')), 'keys'));
});

afterAll(async () => {
  redis.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
  rmSync(path.dirname(keyDir), { recursive: true, force: true });
});

function authServerConfig(): Config['authServer'] {
  return { url: server.url, timeoutMs: 5000, caFile: '', allowHttp: false, proxy: '' };
}

async function licenseBound(keys: ProjectKeys): Promise<number | null> {
  const view = await new ProjectViewReader({ redis, keys, policy: DEFAULT_POLICY, log: silentLog }).read();
  return view.license.bound;
}

it('shows the slots the server counts right after an unbind, before any heartbeat', async () => {
  const keys = new ProjectKeys(testPrefix('slots'), 'p');
  await registerCredential(redis, keys, { account: ACCOUNT, password: PASSWORD, keyDir, defaultAlgorithm: 'rsa' });
  const [seconds] = await redis.time();
  const now = Number(seconds) * 1000;
  // Three nodes bound on the server; each has authenticated since, so each record holds 3.
  // n3 is the old server of a migration: stopped first (its last success the oldest).
  for (const [i, id] of ['n3', 'n1', 'n2'].entries()) {
    expect((await authenticate(server.url, { account: ACCOUNT, password: PASSWORD, project: 'p', nodeId: id })).json?.code).toBe(0);
    await writeNodeRecord(redis, keys, {
      id,
      lastAttemptAt: now - 60_000 + i * 1000,
      lastSuccessAt: now - 60_000 + i * 1000,
      license: { expiresAt: Date.UTC(2099, 0, 1), capacity: 5, bound: 3 },
    });
  }
  expect(await licenseBound(keys)).toBe(3);

  const credential = await readCredential(redis, keys);
  if (!credential) throw new Error('no credential');
  const base = { redis, keys, authServer: authServerConfig(), keyDir, credential, removeSchedule: async () => undefined, warn: () => undefined };
  expect(await unbindNode({ ...base, nodeId: 'n3' })).toMatchObject({ done: true, notBound: false, wasMember: true });
  expect(await boundNodes(server.url, server.token, ACCOUNT)).toEqual(['n1', 'n2']);
  expect(await licenseBound(keys)).toBe(2);

  // A node that was not bound (20000) frees nothing: the count stays.
  expect(await unbindNode({ ...base, nodeId: 'never' })).toMatchObject({ done: true, notBound: true });
  expect(await licenseBound(keys)).toBe(2);
});
