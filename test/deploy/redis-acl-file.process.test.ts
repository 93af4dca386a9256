import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import { disposeAllRedis, startRedis } from '../../harness/redis-server';
import { asList, asMap, asString, parseYaml } from '../support/mini-yaml';

/**
 * deploy/redis/project-user.sh as an operator runs it: the password on standard input,
 * the ACL file line on standard output, loaded by a real redis-server at start
 * (`--aclfile`). The user it makes reaches its project and nothing else; the password
 * is written only as its SHA-256.
 */
const SCRIPT = path.resolve(__dirname, '../../deploy/redis/project-user.sh');
const PASSWORD = 'acl-file-password-5Tq8Lw';
let dir: string;

beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-aclfile-'))));
afterAll(async () => {
  await disposeAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

function redisBefore72(): boolean {
  const out = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout;
  const [major, minor] = (/v=(\d+)\.(\d+)/.exec(out) ?? []).slice(1).map(Number) as [number, number];
  return major < 7 || (major === 7 && minor < 2);
}

/** The first line a server answers to PING sent with no AUTH. */
function rawPing(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer to PING in 10 s')));
    socket.once('data', (data) => {
      resolve(data.toString('utf8').split('\r\n')[0] ?? '');
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

function script(args: string[], stdin: string) {
  return spawnSync('sh', [SCRIPT, ...args], { input: stdin, encoding: 'utf8', timeout: 30_000 });
}

it('writes a line redis-server loads: the user reaches its project only, and the password appears only hashed', async () => {
  const run = script(['pfx', 'projA', ...(redisBefore72() ? ['--redis-before-7.2'] : [])], `${PASSWORD}\n`);
  expect(run.status).toBe(0);
  expect(run.stderr).toBe('user: pfx-projA\n');
  expect(run.stdout).not.toContain(PASSWORD);
  expect(run.stdout).toMatch(/^user pfx-projA reset on #[0-9a-f]{64} ~pfx:\{projA\}:\* &pfx:\{projA\}:\* -@all /);
  const file = path.join(dir, 'users.acl');
  writeFileSync(file, run.stdout);
  const server = await startRedis({ args: ['--aclfile', file] });
  const user = new Redis({ ...server.clientOptions(), username: 'pfx-projA', password: PASSWORD, maxRetriesPerRequest: 0 });
  try {
    const keys = new ProjectKeys('pfx', 'projA');
    await user.hset(keys.credential, 'account', 'a');
    await expect(user.hset(new ProjectKeys('pfx', 'projB').credential, 'account', 'a')).rejects.toThrow(/NOPERM/);
    await expect(user.flushall()).rejects.toThrow(/NOPERM/);
  } finally {
    user.disconnect();
  }
});

it('refuses a short password, a project name Redis keys cannot hold, and a password given as an argument', () => {
  expect(script(['pfx', 'projA'], 'short\n')).toMatchObject({ status: 2, stderr: expect.stringMatching(/at least 16 characters/) });
  expect(script(['pfx', 'proj{A}'], `${PASSWORD}\n`)).toMatchObject({ status: 2, stderr: expect.stringMatching(/project "proj\{A\}"/) });
  const asArgument = script(['pfx', 'projA', PASSWORD], '');
  expect(asArgument.status).toBe(2);
  expect(asArgument.stderr).not.toContain(PASSWORD);
});

it("the compose site's redis-acl service writes a file redis-server loads: the default user behind REDIS_PASSWORD, the project's user behind FDL_REDIS_PASSWORD", async () => {
  // The service's own shell command, run here as its container runs it: compose's $$ is
  // a $, /redis is deploy/redis and /acl a directory of the test's. Debian's redis-server
  // here may be older than 7.2 (compose runs 8.x), so the script gets its flag for that.
  const compose = parseYaml(readFileSync(path.resolve(__dirname, '../../deploy/compose/docker-compose.yml'), 'utf8'));
  const service = asMap(asMap(asMap(compose, 'compose').services, 'services')['redis-acl'], 'redis-acl');
  const entrypoint = asList(service.entrypoint, 'entrypoint').map((part) => asString(part, 'entrypoint part'));
  expect(entrypoint.slice(0, 2)).toEqual(['sh', '-c']);
  const acl = mkdtempSync(path.join(dir, 'compose-'));
  let command = (entrypoint[2] ?? '')
    .replaceAll('$$', '$')
    .replaceAll('/redis/', `${path.dirname(SCRIPT)}/`)
    .replaceAll('/acl/', `${acl}/`);
  if (redisBefore72()) command = command.replace('project-user.sh fdl-cloudauth demo', 'project-user.sh fdl-cloudauth demo --redis-before-7.2');
  const defaultPassword = 'compose-default-password-8Hd2';
  const run = spawnSync('sh', ['-c', command], {
    env: { PATH: process.env.PATH ?? '', REDIS_PASSWORD: defaultPassword, FDL_REDIS_PASSWORD: PASSWORD },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: 'user: fdl-cloudauth-demo\n' });
  const file = readFileSync(path.join(acl, 'users.acl'), 'utf8');
  expect(file).not.toContain(PASSWORD);
  expect(file).not.toContain(defaultPassword);
  // The harness asks with the default user's password (its --requirepass is the same
  // password; the ACL file, loaded after, defines the default user again).
  const server = await startRedis({ args: ['--aclfile', path.join(acl, 'users.acl')], password: defaultPassword });
  const admin = new Redis({ ...server.clientOptions(), maxRetriesPerRequest: 0 });
  const node = new Redis({ ...server.clientOptions(), username: 'fdl-cloudauth-demo', password: PASSWORD, maxRetriesPerRequest: 0 });
  try {
    // Without a password, a client is refused (a raw PING: a client library would mask the reply).
    expect(await rawPing(server.port)).toMatch(/^-NOAUTH/);
    expect(await admin.ping()).toBe('PONG');
    await node.hset(new ProjectKeys('fdl-cloudauth', 'demo').credential, 'account', 'a');
    await expect(node.hset(new ProjectKeys('fdl-cloudauth', 'other').credential, 'account', 'a')).rejects.toThrow(/NOPERM/);
  } finally {
    admin.disconnect();
    node.disconnect();
  }
});
