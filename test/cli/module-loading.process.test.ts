import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { registerCredential } from '../../daemon/credentials/register-credential';
import type { Algorithm } from '../../shared/crypto/cipher';
import { ProjectKeys } from '../../shared/redis/keys';
import { closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runCli } from '../support/cli';
import { writeNodeRecord } from '../../harness/node-records';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { readNode, startSidecar, testKeyDir } from '../../harness/sidecar';

/**
 * The CLI answers fast because each command loads only what it uses. Real
 * processes of the built CLI, with a preload that lists every module they loaded
 * (test/support/loaded-modules.js). `--help` loads no dependency at all; `status`
 * loads ioredis but nothing of the sidecar's BullMQ, the ciphers, the reference server
 * or the demo; a sidecar loads the library of its credential's algorithm only (its key
 * directory holds both pairs), and never the reference server or the demo (nor, without
 * a web configuration file, its YAML parser and bcrypt).
 */
jest.setTimeout(90_000);

const PRELOAD = path.join(__dirname, '..', 'support', 'loaded-modules.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-modules-'));
let runs = 0;

/** Environment that makes the process write its module list; read it with `loaded(file)`. */
function recording(): { file: string; env: Record<string, string> } {
  const file = path.join(dir, `modules-${++runs}.json`);
  return { file, env: { NODE_OPTIONS: `--require ${PRELOAD}`, FDL_LOADED_MODULES_FILE: file } };
}

/** Packages (node_modules/<name>) and our own folders (daemon/x, shared/x) a process loaded. */
function loaded(file: string): { packages: Set<string>; folders: Set<string>; files: string[] } {
  const files = JSON.parse(readFileSync(file, 'utf8')) as string[];
  const packages = new Set<string>();
  const folders = new Set<string>();
  for (const f of files) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1];
    if (pkg) packages.add(pkg);
    else {
      const folder = /\/dist\/((?:daemon|shared)\/[^/]+)\//.exec(f)?.[1];
      if (folder) folders.add(folder);
    }
  }
  return { packages, folders, files };
}

const HEAVY = ['bullmq', 'ioredis', 'node-forge', 'sm-crypto-v2', 'pino', 'prom-client', 'undici', 'convict'];

afterAll(async () => {
  await closeAllAuthServers();
  await disposeAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

it("--help and a command's --help load no dependency, the reference server or the demo", async () => {
  for (const args of [['--help'], ['status', '--help'], ['daemon', '--help']]) {
    const rec = recording();
    const run = await runCli(args, rec.env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: fdl-cloudauth');
    const { packages, folders } = loaded(rec.file);
    expect([...packages]).toEqual([]);
    expect(folders.has('daemon/authserver')).toBe(false);
    expect(folders.has('daemon/demo')).toBe(false);
    expect(folders.has('daemon/agent')).toBe(false);
    for (const heavy of HEAVY) expect(packages.has(heavy)).toBe(false);
  }
});

describe('with a real Redis', () => {
  let server: TestRedis;
  let admin: Redis;
  let auth: ChildAuthServer;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    auth = await spawnAuthServer({ redisUrl: server.url });
  });
  afterAll(() => admin?.disconnect());

  it('status loads ioredis, and not BullMQ, the ciphers, the agent, the reference server or the demo', async () => {
    const keys = new ProjectKeys(testPrefix('modules-status'), 'modules');
    await writeNodeRecord(admin, keys, { id: 'n1', lastAttemptAt: Date.now(), lastSuccessAt: Date.now() });
    const rec = recording();
    const run = await runCli(['status', '--json'], {
      ...rec.env,
      CLOUDAUTH_PROJECT: keys.project,
      CLOUDAUTH_REDIS_URL: server.url,
      CLOUDAUTH_REDIS_KEY_PREFIX: keys.keyPrefix,
    });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id)).toEqual(['n1']);
    const { packages, folders } = loaded(rec.file);
    expect(packages.has('ioredis')).toBe(true);
    for (const unused of ['bullmq', 'node-forge', 'sm-crypto-v2', 'prom-client', 'undici']) expect(packages.has(unused)).toBe(false);
    for (const unused of ['daemon/agent', 'daemon/authserver', 'daemon/demo', 'daemon/http', 'shared/crypto']) expect(folders.has(unused)).toBe(false);
  });

  it.each<[Algorithm, string, string]>([
    ['rsa', 'node-forge', 'sm-crypto-v2'],
    ['sm2', 'sm-crypto-v2', 'node-forge'],
  ])('a sidecar on %s loads %s, not %s, nor the reference server, the demo or what only a web config needs', async (algorithm, used, unused) => {
    const keys = new ProjectKeys(testPrefix(`modules-${algorithm}`), `modules-${algorithm}`);
    const password = `modules-${algorithm}-password`;
    await createAccount(auth.url, auth.token, { account: keys.project, password, capacity: 2 });
    const keyDir = testKeyDir();
    await registerCredential(admin, keys, { account: keys.project, password, keyDir, defaultAlgorithm: algorithm });
    const rec = recording();
    const fixture = {
      project: keys.project,
      keyPrefix: keys.keyPrefix,
      keys,
      redisUrl: server.url,
      keyDir,
      authUrl: auth.url,
      account: keys.project,
      password,
    };
    const sidecar = await startSidecar(fixture, { nodeId: 'n1', interval: '1h', env: rec.env });
    try {
      // The first attempt decrypts the credential: the cipher has been used by then.
      await waitFor('the first successful attempt', async () => (await readNode(admin, keys, 'n1'))?.lastSuccessAt != null, 30_000, 100);
      await waitFor('the key ids published', async () => (await admin.hget(keys.keyIds, 'n1'))?.split(',').length === 2, 10_000, 100);
    } finally {
      expect(await sidecar.stop()).toBe(0);
    }
    const { packages, folders, files } = loaded(rec.file);
    expect(packages.has(used)).toBe(true);
    expect(packages.has(unused)).toBe(false);
    expect(packages.has('bullmq')).toBe(true);
    // No web configuration file: neither its YAML parser nor bcrypt for basic auth.
    expect(packages.has('yaml')).toBe(false);
    expect(packages.has('bcryptjs')).toBe(false);
    expect(folders.has('daemon/authserver')).toBe(false);
    expect(folders.has('daemon/demo')).toBe(false);
    // Nor the page's code, which loads at the first GET / (none here; the server holds only its headers: the script and style hashes), nor undici (issue 31).
    expect(files.filter((f) => /\/dist\/daemon\/page\//.test(f)).map((f) => path.basename(f))).toEqual(['page-script.js', 'page-style.js']);
    expect(packages.has('undici')).toBe(false);
  });
});
