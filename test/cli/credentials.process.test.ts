import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { cipherFor } from '../../shared/crypto/ciphers';
import { keyFilePath, loadPublicKey } from '../../shared/crypto/key-files';
import { ProjectKeys } from '../../shared/redis/keys';
import { decryptCredential, readCredential } from '../../daemon/credentials/credential-store';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { writeKeyPairs } from '../support/key-dirs';
import { assertBuilt, CLI_ENTRY } from '../../harness/authserver';
import { runProcess, type CliRun } from '../support/cli';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { waitFor } from '../../harness/wait';

/**
 * The credential commands as an operator runs them: real `node dist/daemon/cli/main.js`
 * processes against a real redis-server. `npm run build` must have run (npm test does).
 */
const CLI = CLI_ENTRY;

/** Only what the test sets reaches the CLI: no CLOUDAUTH_* (or anything else) of the machine leaks in. */
function runCli(args: string[], env: Record<string, string>, stdin?: string): Promise<CliRun> {
  assertBuilt();
  return runProcess(process.execPath, [CLI, ...args], env, { stdin, minimalEnv: true });
}

/**
 * The CLI SIGKILLed right after it reported its n-th switched credential, as an OOM
 * kill or a power cut would (test/support/crash-after-output.js, preloaded).
 */
function crashAfterSwitched(n: number): Record<string, string> {
  return {
    NODE_OPTIONS: `--require ${path.join(__dirname, '..', 'support', 'crash-after-output.js')}`,
    FDL_CRASH_AFTER_LINE: '^project \\S+: switched from ',
    FDL_CRASH_AFTER_COUNT: String(n),
  };
}

function runCommand(command: string, args: string[], env: Record<string, string>): Promise<CliRun> {
  return runProcess(command, args, env, { minimalEnv: true });
}

let redis: TestRedis;
let client: Redis;
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-keys-'));
  dirs.push(dir);
  return dir;
}

function envFor(prefix: string, keyDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { CLOUDAUTH_REDIS_URL: redis.url, CLOUDAUTH_REDIS_KEY_PREFIX: prefix, CLOUDAUTH_KEY_DIR: keyDir, ...extra };
}

/**
 * A fresh key directory as `keys generate` writes it, written in this process with the
 * same functions: the command itself is tested in its own describe block; the other
 * tests need only its result, not one more CLI process each.
 */
async function generatedKeyDir(): Promise<string> {
  return writeKeyPairs(path.join(tempDir(), 'keys'));
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  client.disconnect();
  await disposeAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('keys generate', () => {
  it('writes both pairs with private keys 0600 in a 0700 directory, and prints key ids only', async () => {
    const dir = path.join(tempDir(), 'new', 'keys');
    const result = await runCli(['keys', 'generate', '--dir', dir], {});
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const algorithm of ['rsa', 'sm2'] as const) {
      expect(statSync(keyFilePath(dir, algorithm, 'private')).mode & 0o777).toBe(0o600);
      expect(statSync(keyFilePath(dir, algorithm, 'public')).mode & 0o777).toBe(0o644);
      const { keyId, text } = loadPublicKey(dir, algorithm);
      expect(result.stdout).toContain(`key id ${keyId}`);
      const privateText = readFileSync(keyFilePath(dir, algorithm, 'private'), 'utf8');
      expect(result.stdout).not.toContain(privateText.trim().split('\n')[1] ?? privateText.trim());
      expect(cipherFor(algorithm).decrypt(privateText, cipherFor(algorithm).encrypt(text, 'pw'))).toBe('pw');
    }
    // No temporary files left behind by the atomic writes.
    expect(readdirNames(dir)).toEqual(['rsa-private.pem', 'rsa-public.pem', 'sm2-private.key', 'sm2-public.key']);
  });

  it('refuses to overwrite existing keys without --force, and replaces them with it', async () => {
    const dir = await generatedKeyDir();
    const before = readFileSync(keyFilePath(dir, 'rsa', 'private'), 'utf8');
    const idBefore = loadPublicKey(dir, 'sm2').keyId;

    const refused = await runCli(['keys', 'generate', '--dir', dir], {});
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refusing to overwrite');
    expect(refused.stderr).toContain(keyFilePath(dir, 'rsa', 'private'));
    expect(refused.stderr).toContain('--force');
    expect(readFileSync(keyFilePath(dir, 'rsa', 'private'), 'utf8')).toBe(before);

    const forced = await runCli(['keys', 'generate', '--dir', dir, '--force'], {});
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('register` again');
    expect(readFileSync(keyFilePath(dir, 'rsa', 'private'), 'utf8')).not.toBe(before);
    expect(loadPublicKey(dir, 'sm2').keyId).not.toBe(idBefore);
    expect(statSync(keyFilePath(dir, 'rsa', 'private')).mode & 0o777).toBe(0o600);
  });

  it('takes the directory from CLOUDAUTH_KEY_DIR when --dir is absent', async () => {
    const dir = path.join(tempDir(), 'from-env');
    const result = await runCli(['keys', 'generate'], { CLOUDAUTH_KEY_DIR: dir });
    expect(result.code).toBe(0);
    expect(existsSync(keyFilePath(dir, 'sm2', 'private'))).toBe(true);
  });
});

function readdirNames(dir: string): string[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:fs') as typeof import('node:fs')).readdirSync(dir).sort();
}

describe('register', () => {
  it('stores the encrypted password, counts generations, clears a failed project, resets streaks and publishes', async () => {
    const prefix = testPrefix('reg');
    const keyDir = await generatedKeyDir();
    const keys = new ProjectKeys(prefix, 'p1');
    const env = envFor(prefix, keyDir, { CLOUDAUTH_PROJECT: 'p1' });
    const password = 'Pässwörd 密码 🔑';

    // Stored unchecked (--no-verify: no server here; the check has its own suite,
    // register-verify.process.test.ts), which register says in one warning line.
    const first = await runCli(['register', '--account', 'ops@example.com', '--password-stdin', '--no-verify'], env, `${password}\nsecond line is ignored\n`);
    expect(first.stderr).toMatch(/^warning: the password was NOT checked[^\n]*\n$/);
    expect(first.code).toBe(0);
    const cred = await readCredential(client, keys);
    expect(cred).not.toBeNull();
    if (!cred) return;
    expect(cred.account).toBe('ops@example.com');
    expect(cred.algorithm).toBe('rsa');
    expect(cred.keyId).toBe(loadPublicKey(keyDir, 'rsa').keyId);
    expect(cred.generation).toBe(1);
    const [seconds] = await client.time();
    expect(Math.abs(cred.registeredAt - Number(seconds) * 1000)).toBeLessThan(60_000);
    expect(cred.ciphertext).not.toContain(password);
    expect(decryptCredential(cred, keyDir)).toBe(password);
    expect(first.stdout).toBe(`registered project p1: account ops@example.com, algorithm rsa, key id ${cred.keyId}, generation 1\n`);

    // The project is failed: two nodes with streaks and histories.
    const reason = JSON.stringify({ code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', at: 1, attemptId: 'a1' });
    await client.hset(keys.status, { status: 'failed', since: '5', epoch: '3', failedAt: '5', generation: '1' });
    await client.zadd(keys.nodes, 1, 'n1', 2, 'n2', 3, 'gone');
    for (const id of ['n1', 'n2']) {
      await client.hset(keys.node(id), { consecutiveFailures: '12', reason, latestReason: reason, lastAttemptAt: '9', generation: '1' });
      await client.lpush(keys.history(id), reason, reason);
    }

    const subscriber = new Redis(redis.url);
    const events: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => events.push(message));
    await subscriber.subscribe(keys.events);
    try {
      const second = await runCli(['register', '--account', 'ops@example.com', '--password-stdin', '--no-verify'], env, 'new-password\r\n');
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('generation 2');
      expect(second.stdout).toContain('2 node streak(s) were reset');
      await waitFor('the registered event', () => events.length > 0, 5000);
      expect(events.map((e) => JSON.parse(e) as unknown)).toEqual([
        { type: 'registered', generation: 2, registration: expect.stringMatching(/^r\d+\.\d{6}-[0-9a-f]{16}$/) as string },
      ]);
    } finally {
      subscriber.disconnect();
    }
    const after = await readCredential(client, keys);
    expect(after?.generation).toBe(2);
    expect(after && decryptCredential(after, keyDir)).toBe('new-password');

    const status = await client.hgetall(keys.status);
    expect(status.status).toBe('unregistered');
    expect(status.failedAt).toBeUndefined();
    expect(status.generation).toBe('2');
    for (const id of ['n1', 'n2']) {
      const node = await client.hgetall(keys.node(id));
      expect(node.consecutiveFailures).toBe('0');
      expect(node.reason).toBe('');
      expect(node.latestReason).toBe('');
      expect(node.lastAttemptAt).toBe('9');
      expect(await client.llen(keys.history(id))).toBe(2);
    }
    // A node id without a record gets none invented.
    expect(await client.exists(keys.node('gone'))).toBe(0);
  });

  it('uses the algorithm stored with the credential over crypto.algorithm, and SM2 when configured', async () => {
    const prefix = testPrefix('alg');
    const keyDir = await generatedKeyDir();
    const keys = new ProjectKeys(prefix, 'p2');
    const sm2Env = envFor(prefix, keyDir, { CLOUDAUTH_PROJECT: 'p2', CLOUDAUTH_CRYPTO_ALGORITHM: 'sm2' });
    expect((await runCli(['register', '--account', 'a', '--password-stdin', '--no-verify'], sm2Env, 'pw-sm2\n')).code).toBe(0);
    const cred = await readCredential(client, keys);
    expect(cred?.algorithm).toBe('sm2');
    expect(cred?.keyId).toBe(loadPublicKey(keyDir, 'sm2').keyId);
    expect(cred && decryptCredential(cred, keyDir)).toBe('pw-sm2');

    // The configuration now says rsa, but the project's credential is on sm2: it stays sm2.
    const rsaEnv = envFor(prefix, keyDir, { CLOUDAUTH_PROJECT: 'p2', CLOUDAUTH_CRYPTO_ALGORITHM: 'rsa' });
    const again = await runCli(['register', '--account', 'a', '--password-stdin', '--no-verify'], rsaEnv, 'pw-2\n');
    expect(again.stdout).toContain('algorithm sm2');
    expect((await readCredential(client, keys))?.algorithm).toBe('sm2');
  });

  it('has no way to take the password as an argument', async () => {
    const env = envFor(testPrefix('arg'), tempDir(), { CLOUDAUTH_PROJECT: 'p' });
    for (const flag of ['--password', '--password=hunter2', '-p']) {
      const result = await runCli(['register', '--account', 'a', flag, 'hunter2'], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/unknown option/);
      expect(result.stderr).not.toContain('hunter2');
    }
    const positional = await runCli(['register', '--account', 'a', 'hunter2'], env);
    expect(positional.code).toBe(2);
    expect(positional.stderr).not.toContain('hunter2');
  });

  // A real pseudo-terminal (python3's pty module): the prompt path runs as at a console.
  const PTY_DRIVER = `
import os, pty, select, sys, time
first, second = os.environ.pop('PTY_FIRST').encode(), os.environ.pop('PTY_SECOND').encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(sys.argv[1], sys.argv[1:], os.environ)
out = b''
def read(until=None, timeout=15):
    global out
    deadline = time.time() + timeout
    while (until is None or until not in out) and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
read(b'Password: ')
os.write(fd, first + b'\\r')
read(b'Repeat password: ')
os.write(fd, second + b'\\r')
read()
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
`;
  const hasPython = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

  (hasPython ? it : it.skip)('prompts twice without echo at a terminal, and refuses two different passwords', async () => {
    const prefix = testPrefix('pty');
    const keyDir = await generatedKeyDir();
    const keys = new ProjectKeys(prefix, 'tty');
    const run = (first: string, second: string) =>
      runCommand('python3', ['-c', PTY_DRIVER, process.execPath, CLI, 'register', '--account', 'console', '--no-verify'], {
        ...envFor(prefix, keyDir, { CLOUDAUTH_PROJECT: 'tty' }),
        PTY_FIRST: first,
        PTY_SECOND: second,
      });

    const typed = 'typed-s3cret-密';
    const ok = await run(typed, typed);
    expect(ok.stdout).toContain('Password: ');
    expect(ok.stdout).toContain('Repeat password: ');
    expect(ok.stdout).toContain('registered project tty: account console');
    expect(ok.stdout).not.toContain('typed-s3cret');
    expect(ok.code).toBe(0);
    const cred = await readCredential(client, keys);
    expect(cred && decryptCredential(cred, keyDir)).toBe(typed);

    const differ = await run('one-password', 'other-password');
    expect(differ.code).toBe(1);
    expect(differ.stdout).toContain('the two passwords differ');
    expect(differ.stdout).not.toContain('one-password');
    expect((await readCredential(client, keys))?.generation).toBe(1);
  });

  it('refuses to prompt when stdin is not a terminal and --password-stdin is absent', async () => {
    const env = envFor(testPrefix('tty'), tempDir(), { CLOUDAUTH_PROJECT: 'p' });
    const result = await runCli(['register', '--account', 'a', '--no-verify'], env, 'piped-password\n');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('stdin is not a terminal');
    expect(result.stderr).toContain('--password-stdin');
    expect(result.stderr).not.toContain('piped-password');
  });

  it('needs a project, an account and a non-empty password', async () => {
    const keyDir = await generatedKeyDir();
    const noProject = await runCli(['register', '--account', 'a', '--password-stdin', '--no-verify'], envFor(testPrefix('np'), keyDir), 'pw\n');
    expect(noProject.code).toBe(2);
    expect(noProject.stderr).toContain('CLOUDAUTH_PROJECT');
    const noAccount = await runCli(['register', '--password-stdin', '--no-verify'], envFor(testPrefix('na'), keyDir, { CLOUDAUTH_PROJECT: 'p' }), 'pw\n');
    expect(noAccount.code).toBe(2);
    expect(noAccount.stderr).toContain('--account');
    const empty = await runCli(
      ['register', '--account', 'a', '--password-stdin', '--no-verify'],
      envFor(testPrefix('ep'), keyDir, { CLOUDAUTH_PROJECT: 'p' }),
      '\n',
    );
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('password is empty');
  });

  it('says which key file is missing and how to make it', async () => {
    const keyDir = path.join(tempDir(), 'none');
    const result = await runCli(
      ['register', '--account', 'a', '--password-stdin', '--no-verify'],
      envFor(testPrefix('nk'), keyDir, { CLOUDAUTH_PROJECT: 'p' }),
      'pw\n',
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(path.join(keyDir, 'rsa-public.pem'));
    expect(result.stderr).toContain('keys generate');
  });

  it('exits 3 naming the Redis it could not reach', async () => {
    const stopped = await startRedis();
    await stopped.stop();
    const keyDir = await generatedKeyDir();
    const env = { ...envFor(testPrefix('down'), keyDir, { CLOUDAUTH_PROJECT: 'p' }), CLOUDAUTH_REDIS_URL: stopped.url };
    const result = await runCli(['register', '--account', 'a', '--password-stdin', '--no-verify'], env, 'pw-down\n');
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`127.0.0.1:${stopped.port}`);
    expect(result.stderr).not.toContain('pw-down');
    const switched = await runCli(['crypto', 'switch', '--to', 'sm2'], env);
    expect(switched.code).toBe(3);
    expect(switched.stderr).toContain(`127.0.0.1:${stopped.port}`);
  });
});

describe('crypto switch', () => {
  // Registered in-process (the register command is tested above): keeps this suite quick.
  async function registerProjects(prefix: string, keyDir: string, projects: string[]): Promise<Map<string, string>> {
    const passwords = new Map<string, string>();
    for (const project of projects) {
      const password = `pw-${project}-密-${Math.random().toString(36).slice(2)}`;
      await registerCredential(client, new ProjectKeys(prefix, project), { account: `acct-${project}`, password, keyDir, defaultAlgorithm: 'rsa' });
      passwords.set(project, password);
    }
    return passwords;
  }

  async function expectReadable(prefix: string, keyDir: string, passwords: Map<string, string>): Promise<string[]> {
    const algorithms: string[] = [];
    for (const [project, password] of passwords) {
      const cred = await readCredential(client, new ProjectKeys(prefix, project));
      expect(cred).not.toBeNull();
      if (!cred) continue;
      expect(decryptCredential(cred, keyDir)).toBe(password);
      expect(cred.generation).toBe(1);
      algorithms.push(cred.algorithm);
    }
    return algorithms;
  }

  it('moves every project rsa -> sm2 -> rsa and every password stays usable', async () => {
    const prefix = testPrefix('sw');
    const keyDir = await generatedKeyDir();
    const passwords = await registerProjects(prefix, keyDir, ['a', 'b', 'c']);
    // Another installation sharing the Redis is not touched.
    const otherPrefix = testPrefix('other');
    const other = await registerProjects(otherPrefix, keyDir, ['x']);

    const toSm2 = await runCli(['crypto', 'switch', '--to', 'sm2'], envFor(prefix, keyDir));
    expect(toSm2.stderr).toBe('');
    expect(toSm2.code).toBe(0);
    expect(toSm2.stdout).toContain('switched 3 credential(s) to sm2, 0 already on sm2');
    expect(await expectReadable(prefix, keyDir, passwords)).toEqual(['sm2', 'sm2', 'sm2']);
    expect(await expectReadable(otherPrefix, keyDir, other)).toEqual(['rsa']);

    const again = await runCli(['crypto', 'switch', '--to', 'sm2'], envFor(prefix, keyDir));
    expect(again.stdout).toContain('switched 0 credential(s) to sm2, 3 already on sm2');

    const back = await runCli(['crypto', 'switch', '--to', 'rsa'], envFor(prefix, keyDir));
    expect(back.code).toBe(0);
    expect(back.stdout).toContain('switched 3 credential(s) to rsa');
    expect(await expectReadable(prefix, keyDir, passwords)).toEqual(['rsa', 'rsa', 'rsa']);

    // With a project configured, only that project moves.
    const one = await runCli(['crypto', 'switch', '--to', 'sm2'], envFor(prefix, keyDir, { CLOUDAUTH_PROJECT: 'b' }));
    expect(one.stdout).toContain('switched 1 credential(s) to sm2');
    expect(await expectReadable(prefix, keyDir, passwords)).toEqual(['rsa', 'sm2', 'rsa']);
  });

  it('survives a SIGKILL in the middle: every password still decrypts, and a re-run finishes', async () => {
    const prefix = testPrefix('crash');
    const keyDir = await generatedKeyDir();
    const passwords = await registerProjects(prefix, keyDir, ['p1', 'p2', 'p3', 'p4', 'p5']);

    const crashed = await runCli(['crypto', 'switch', '--to', 'sm2'], envFor(prefix, keyDir, crashAfterSwitched(2)));
    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.stdout).not.toContain('switched 2 credential(s)');
    const mixed = await expectReadable(prefix, keyDir, passwords);
    expect(mixed.filter((a) => a === 'sm2')).toHaveLength(2);
    expect(mixed.filter((a) => a === 'rsa')).toHaveLength(3);

    const finished = await runCli(['crypto', 'switch', '--to', 'sm2'], envFor(prefix, keyDir));
    expect(finished.code).toBe(0);
    expect(finished.stdout).toContain('switched 3 credential(s) to sm2, 2 already on sm2');
    expect(await expectReadable(prefix, keyDir, passwords)).toEqual(['sm2', 'sm2', 'sm2', 'sm2', 'sm2']);
  });

  it('rejects bad usage', async () => {
    const env = envFor(testPrefix('u'), tempDir());
    expect((await runCli(['crypto', 'switch'], env)).code).toBe(2);
    expect((await runCli(['crypto', 'switch', '--to', 'aes'], env)).stderr).toContain('--to takes rsa or sm2');
    expect((await runCli(['crypto', 'rotate', '--to', 'rsa'], env)).code).toBe(2);
  });
});

describe('secrets never reach the output', () => {
  it('keys generate, register and crypto switch at debug level print no password, key material or ciphertext', async () => {
    const prefix = testPrefix('leak');
    const dir = path.join(tempDir(), 'keys');
    const env = envFor(prefix, dir, { CLOUDAUTH_PROJECT: 'leaky', CLOUDAUTH_LOG_LEVEL: 'debug' });
    const password = 'Zq9-unique-secret-密码';
    const keys = new ProjectKeys(prefix, 'leaky');
    const outputs: string[] = [];
    const ciphertexts: string[] = [];
    const record = (r: CliRun) => {
      expect(r.code).toBe(0);
      outputs.push(r.stdout, r.stderr);
    };

    record(await runCli(['keys', 'generate'], env));
    record(await runCli(['register', '--account', 'acct', '--password-stdin', '--no-verify'], env, `${password}\n`));
    ciphertexts.push((await client.hget(keys.credential, 'ciphertext')) ?? '');
    record(await runCli(['crypto', 'switch', '--to', 'sm2'], env));
    ciphertexts.push((await client.hget(keys.credential, 'ciphertext')) ?? '');
    record(await runCli(['crypto', 'switch', '--to', 'rsa'], env));
    ciphertexts.push((await client.hget(keys.credential, 'ciphertext')) ?? '');

    const all = outputs.join('\n');
    // Debug logging was on: the logs are there, and they are clean.
    expect(all).toContain('"level":"debug"');
    expect(all).toContain('credential switched');
    expect(all).not.toContain(password);
    expect(all).not.toContain('密码');
    for (const ciphertext of ciphertexts) {
      expect(ciphertext.length).toBeGreaterThan(40);
      expect(all).not.toContain(ciphertext);
      expect(all).not.toContain(ciphertext.slice(0, 24));
      expect(all).not.toContain(Buffer.from(ciphertext, 'base64').toString('hex').slice(0, 24));
    }
    for (const algorithm of ['rsa', 'sm2'] as const) {
      const text = readFileSync(keyFilePath(dir, algorithm, 'private'), 'utf8');
      const material = text.split('\n').filter((line) => line && !line.startsWith('-----'));
      expect(material.length).toBeGreaterThan(0);
      for (const line of material) expect(all).not.toContain(line.slice(0, 24));
    }
  });
});
