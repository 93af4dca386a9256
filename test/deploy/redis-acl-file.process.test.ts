import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import { disposeAllRedis, startRedis } from '../support/redis-server';

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
