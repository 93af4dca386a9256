import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { definedScripts, LuaReplyError, LuaScript } from '../../shared/redis/lua-script';
import { packageRoot } from '../../shared/package-root';
import { disposeAllRedis, startRedis, type TestRedis } from '../support/redis-server';
// Every module that defines a script, so definedScripts() holds them all.
import '../../daemon/agent/attempt-plan';
import '../../daemon/agent/attempt-recorder';
import '../../daemon/agent/recovery';
import '../../daemon/authserver/account-store';
import '../../daemon/aggregator/leader-election';
import '../../daemon/aggregator/status-writer';
import '../../daemon/cli/actions/unbind';
import '../../daemon/credentials/credential-switch';
import '../../daemon/credentials/register-credential';
import '../../daemon/view/corrupt-record-log';

/**
 * The contract between the Lua files and their typed wrappers: every script has one
 * wrapper, its header lists what the wrapper passes, and every key it publishes to is
 * a KEY (the project's one convention), so nothing drifts apart unnoticed.
 */

const ROOT = packageRoot();
const PRELUDE = 'shared/redis/lua/prelude.lua';

function luaFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.lua'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

describe('Lua scripts and their wrappers', () => {
  // The prelude is no script of its own: every script starts with it (lua-script.ts).
  const files = [...luaFiles('daemon'), ...luaFiles('shared')].filter((f) => f !== PRELUDE).sort();

  it('the prelude touches no key: it only defines functions the scripts call', () => {
    const prelude = readFileSync(path.join(ROOT, PRELUDE), 'utf8');
    expect(prelude).not.toMatch(/KEYS\[|ARGV\[/);
    expect(definedScripts().every((s) => s.lua.startsWith(prelude))).toBe(true);
  });

  it.each(files)("%s writes out none of the prelude's snippets: Redis time in ms, the key-type check, the damaged-key reply", (file) => {
    // The code after the header (which says what the script returns).
    const lua = readFileSync(path.join(ROOT, file), 'utf8').replace(/^--\[\[[\s\S]*?\]\]/, '');
    // TIME -> ms is the prelude's timeMs/redisNowMs (a script may read TIME itself only for its raw parts).
    expect(lua).not.toMatch(/\*\s*1000|\/\s*1000/);
    // A damaged key is answered only through damagedReply, the one encoding damagedRole decodes.
    expect(lua).not.toMatch(/'damaged'/);
    // A loop of TYPE checks is firstDamaged's.
    expect(lua).not.toMatch(/for [^\n]*do\s*\n\s*local kind = redis\.call\('TYPE'/);
  });

  it('every script file has exactly one typed wrapper', () => {
    // Scripts the other tests here make under .tmp are not the product's.
    const wrapped = definedScripts()
      .map((s) => s.file)
      .filter((f) => !f.startsWith('.tmp'));
    expect([...wrapped].sort()).toEqual(files);
  });

  it.each(files)('%s publishes only to a channel it takes as a KEY', (file) => {
    const lua = readFileSync(path.join(ROOT, file), 'utf8');
    for (const call of lua.matchAll(/'PUBLISH',\s*([^,]+),/g)) {
      expect(call[1]).not.toMatch(/ARGV/);
      const target = (call[1] ?? '').trim();
      // A local holding the channel must itself come from KEYS.
      if (!target.startsWith('KEYS[')) expect(lua).toMatch(new RegExp(`local [^=]*\\b${target}\\b[^=]*=\\s*KEYS\\[`));
    }
  });

  describe('a wrapper that does not match its script', () => {
    const dir = path.join(ROOT, '.tmp', 'lua-contract');
    const file = (name: string, lua: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, name), lua);
      return path.relative(ROOT, path.join(dir, name));
    };
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('is refused when it names fewer ARGV than the header lists', () => {
      const f = file('two-args-1.lua', '--[[\n  KEYS[1] a\n  ARGV[1] x\n  ARGV[2] y\n]]\nreturn 1\n');
      expect(() => new LuaScript({ file: f, keys: ['a'], args: ['x'], reply: (raw, c) => c.integer(raw) })).toThrow(
        /header lists ARGV 1,2, the wrapper names 1/,
      );
    });

    it('is refused when the file name disagrees with the number of KEYS', () => {
      const f = file('keys-2.lua', '--[[\n  KEYS[1] a\n]]\nreturn 1\n');
      expect(() => new LuaScript({ file: f, keys: ['a'], args: [], reply: (raw, c) => c.integer(raw) })).toThrow(/file name says 2 keys, the wrapper names 1/);
    });

    it('is refused without a header', () => {
      const f = file('bare-0.lua', 'return 1\n');
      expect(() => new LuaScript({ file: f, keys: [], args: [], reply: (raw, c) => c.integer(raw) })).toThrow(/no --\[\[ header/);
    });
  });

  describe('against a real Redis', () => {
    let server: TestRedis;
    let redis: Redis;
    beforeAll(async () => {
      server = await startRedis();
      redis = new Redis(server.port, '127.0.0.1', { lazyConnect: true });
      await redis.connect();
    });
    afterAll(async () => {
      redis.disconnect();
      await disposeAllRedis();
    });

    it('passes KEYS and ARGV in the header order, loads the script after NOSCRIPT, and decodes the reply', async () => {
      const dir = path.join(ROOT, '.tmp', 'lua-contract-run');
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        path.join(dir, 'echo-2.lua'),
        '--[[\n  KEYS[1] first\n  KEYS[2] second\n  ARGV[1] a\n  ARGV[2..] rest\n]]\nreturn { KEYS[1], KEYS[2], unpack(ARGV) }\n',
      );
      try {
        const script = new LuaScript({
          file: path.relative(ROOT, path.join(dir, 'echo-2.lua')),
          keys: ['second', 'first'].reverse() as Array<'first' | 'second'>,
          args: ['a'],
          variadic: true,
          reply: (raw, c) => c.strings(raw),
        });
        await redis.script('FLUSH');
        expect(await script.run(redis, { second: 'k2', first: 'k1' }, { a: 'x' }, ['y', 3])).toEqual(['k1', 'k2', 'x', 'y', '3']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a reply of the wrong shape is a LuaReplyError naming the script, never the values', async () => {
      const dir = path.join(ROOT, '.tmp', 'lua-contract-shape');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'secretive-0.lua'), "--[[\n  returns a string where a number was promised\n]]\nreturn 'hunter2-secret'\n");
      try {
        const script = new LuaScript({ file: path.relative(ROOT, path.join(dir, 'secretive-0.lua')), keys: [], args: [], reply: (raw, c) => c.integer(raw) });
        const error = await script.run(redis, {}, {}).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LuaReplyError);
        expect((error as Error).message).toMatch(/secretive-0\.lua answered a reply of an unexpected shape \(expected an integer\)/);
        expect((error as Error).message).not.toContain('hunter2');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
