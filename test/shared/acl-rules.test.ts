import { readFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { NEWER_COMMANDS, PROJECT_USER_COMMANDS, projectUserRules } from '../../shared/redis/acl-rules';
import { ProjectKeys } from '../../shared/redis/keys';
import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';

/**
 * The project's ACL user (shared/redis/acl-rules.ts) and the template operators install
 * (deploy/redis/project-user.acl.template): the same commands, nothing of @dangerous
 * but INFO, and on a real Redis its keys and channel are the project's only.
 */
const TEMPLATE = path.resolve(__dirname, '../../deploy/redis/project-user.acl.template');

let server: TestRedis;
let admin: Redis;
let serverKnows: (command: string) => boolean;

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.clientOptions());
  const version = /redis_version:(\d+)\.(\d+)/.exec(await admin.info('server'));
  const [major, minor] = [Number(version?.[1]), Number(version?.[2])];
  serverKnows = (command) => {
    const since = NEWER_COMMANDS[command];
    if (!since) return true;
    const [m, n] = since.split('.').map(Number) as [number, number];
    return major > m || (major === m && minor >= n);
  };
});

afterAll(async () => {
  admin?.disconnect();
  await disposeAllRedis();
});

function templateLine(): string[] {
  const line = readFileSync(TEMPLATE, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('user '));
  return (line ?? '').split(' ');
}

describe('the project ACL user', () => {
  it('has the same rules in the template operators install as in the code', () => {
    const words = templateLine();
    expect(words.slice(0, 5)).toEqual(['user', '@USER@', 'reset', 'on', '#@PASSWORD_SHA256@']);
    expect(words.filter((w) => w.startsWith('+')).map((w) => w.slice(1))).toEqual([...PROJECT_USER_COMMANDS]);
    expect(words).toContain('~@PREFIX@:{@PROJECT@}:*');
    expect(words).toContain('&@PREFIX@:{@PROJECT@}:*');
    expect(words).toContain('-@all');
  });

  it('holds nothing of @dangerous but INFO, and no command twice', async () => {
    const dangerous = new Set(((await admin.call('ACL', 'CAT', 'dangerous')) as string[]).map((c) => c.toLowerCase()));
    expect(PROJECT_USER_COMMANDS.filter((c) => dangerous.has(c) || dangerous.has(c.split('|')[0] ?? ''))).toEqual(['info']);
    expect(new Set(PROJECT_USER_COMMANDS).size).toBe(PROJECT_USER_COMMANDS.length);
  });

  it("on a real Redis: the project's keys and channel only, BullMQ's queue keys included; no FLUSHALL", async () => {
    const without = PROJECT_USER_COMMANDS.filter((c) => !serverKnows(c));
    await admin.call('ACL', 'SETUSER', 'rules-test', ...projectUserRules('pfx', 'pa', { without }), '>rules-test-pw');
    const user = new Redis({ ...server.clientOptions(), username: 'rules-test', password: 'rules-test-pw', maxRetriesPerRequest: 0 });
    try {
      const keys = new ProjectKeys('pfx', 'pa');
      await user.hset(keys.credential, 'f', '1');
      await user.zadd(`${keys.bullPrefix}:heartbeat-n1:delayed`, 1, 'x');
      await user.publish(keys.events, 'x');
      const other = new ProjectKeys('pfx', 'pb');
      await expect(user.hset(other.credential, 'f', '1')).rejects.toThrow(/NOPERM/);
      await expect(user.get('pfx-other:{pa}:credential')).rejects.toThrow(/NOPERM/);
      await expect(user.publish(other.events, 'x')).rejects.toThrow(/NOPERM/);
      await expect(user.flushall()).rejects.toThrow(/NOPERM/);
      await expect(user.call('KEYS', '*')).rejects.toThrow(/NOPERM/);
      await expect(user.call('CONFIG', 'GET', 'requirepass')).rejects.toThrow(/NOPERM/);
    } finally {
      user.disconnect();
      await admin.call('ACL', 'DELUSER', 'rules-test');
      await admin.call('ACL', 'LOG', 'RESET');
    }
  });
});
