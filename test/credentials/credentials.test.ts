import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import Redis from 'ioredis';
import { KeyFileError } from '../../shared/crypto/errors/key-file-error';
import { KeyMismatchError } from '../../shared/crypto/errors/key-mismatch-error';
import { keyFilePath, loadPrivateKey, loadPublicKey } from '../../shared/crypto/key-files';
import { ProjectKeys } from '../../shared/redis/keys';
import { CorruptRecordError } from '../../shared/redis/records';
import { decryptCredential, parseCredential, readCredential } from '../../daemon/credentials/credential-store';
import { findCredentialProjects, SWITCH, switchCredential } from '../../daemon/credentials/credential-switch';
import { REGISTER, registerCredential } from '../../daemon/credentials/register-credential';
import { readFirstLine } from '../../daemon/credentials/read-password';
import { writeKeyPairs } from '../support/key-dirs';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';

/** The credential modules against a real redis-server, without the CLI around them. */
let server: TestRedis;
let redis: Redis;
const dirs: string[] = [];

function keyDir(): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'fdl-cred-')), 'keys');
  dirs.push(path.dirname(dir));
  return writeKeyPairs(dir);
}

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  redis.disconnect();
  await disposeAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('credential store', () => {
  it('reads null before the first register, then the stored credential', async () => {
    const keys = new ProjectKeys(testPrefix('cs'), 'p');
    const dir = keyDir();
    expect(await readCredential(redis, keys)).toBeNull();
    const result = await registerCredential(redis, keys, { account: 'acct', password: 'pw-1', keyDir: dir, defaultAlgorithm: 'sm2' });
    const cred = await readCredential(redis, keys);
    expect(cred).toEqual({
      account: 'acct',
      ciphertext: expect.any(String) as string,
      algorithm: 'sm2',
      keyId: loadPublicKey(dir, 'sm2').keyId,
      generation: 1,
      registeredAt: result.registeredAt,
      registration: result.registration,
      revision: result.registration,
      revisedAt: result.registeredAt,
    });
    expect(result.registration).toMatch(/^r\d+\.\d{6}-[0-9a-f]{16}$/);
    expect(cred && decryptCredential(cred, dir)).toBe('pw-1');
  });

  it('refuses records that do not parse, naming the field and never its value', () => {
    const good = { account: 'a', ciphertext: 'QUJD', algorithm: 'rsa', keyId: '0123456789abcdef', generation: '3', registeredAt: '17' };
    expect(parseCredential(good)?.generation).toBe(3);
    expect(parseCredential({})).toBeNull();
    for (const [field, value] of [
      ['algorithm', 'aes'],
      ['generation', 'x'],
      ['ciphertext', ''],
      ['account', ''],
      ['registeredAt', '1.5'],
    ] as const) {
      let error: unknown;
      try {
        parseCredential({ ...good, [field]: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CorruptRecordError);
      expect((error as Error).message).toContain(field);
      expect((error as Error).message).not.toContain('QUJD');
    }
  });

  it('names a key mismatch with both key ids, and missing, open or invalid key files with their fix', async () => {
    const keys = new ProjectKeys(testPrefix('km'), 'p');
    const dir = keyDir();
    await registerCredential(redis, keys, { account: 'a', password: 'pw-km', keyDir: dir, defaultAlgorithm: 'rsa' });
    const cred = await readCredential(redis, keys);
    if (!cred) throw new Error('no credential');

    const otherDir = keyDir();
    let mismatch: unknown;
    try {
      decryptCredential(cred, otherDir);
    } catch (e) {
      mismatch = e;
    }
    expect(mismatch).toBeInstanceOf(KeyMismatchError);
    expect((mismatch as Error).message).toContain(cred.keyId);
    expect((mismatch as Error).message).toContain(loadPrivateKey(otherDir, 'rsa').keyId);
    expect((mismatch as Error).message).not.toContain(cred.ciphertext.slice(0, 16));

    const privateFile = keyFilePath(dir, 'rsa', 'private');
    chmodSync(privateFile, 0o644);
    expect(() => decryptCredential(cred, dir)).toThrow(
      new KeyFileError(`private key file ${privateFile} has mode 0644, open to group or others: run \`chmod 600 ${privateFile}\``, privateFile),
    );
    chmodSync(privateFile, 0o600);
    expect(decryptCredential(cred, dir)).toBe('pw-km');

    rmSync(privateFile);
    expect(() => decryptCredential(cred, dir)).toThrow(/does not exist: run `fdl-cloudauth keys generate --dir /);

    writeFileSync(privateFile, 'not a key\n', { mode: 0o600 });
    let invalid: unknown;
    try {
      decryptCredential(cred, dir);
    } catch (e) {
      invalid = e;
    }
    expect(invalid).toBeInstanceOf(KeyFileError);
    expect((invalid as Error).message).toContain('does not hold a valid key');
    expect((invalid as Error).message).not.toContain('not a key');
  });
});

describe('register script', () => {
  it('leaves a project that is not failed, and its nodes, alone but still publishes', async () => {
    const keys = new ProjectKeys(testPrefix('nf'), 'p');
    const dir = keyDir();
    await redis.hset(keys.status, { status: 'degraded', since: '1', epoch: '2' });
    await redis.zadd(keys.nodes, 1, 'n1');
    await redis.hset(keys.node('n1'), { consecutiveFailures: '4', reason: '{"x":1}' });
    const subscriber = new Redis(server.url);
    const messages: string[] = [];
    subscriber.on('message', (_c: string, m: string) => messages.push(m));
    await subscriber.subscribe(keys.events);
    try {
      const result = await registerCredential(redis, keys, { account: 'a', password: 'pw', keyDir: dir, defaultAlgorithm: 'rsa' });
      expect(result).toMatchObject({ algorithm: 'rsa', generation: 1, clearedFailed: false, nodesReset: 0 });
      await waitFor('the registered event', () => messages.length > 0, 5000);
      expect(messages.map((m) => JSON.parse(m) as unknown)).toEqual([{ type: 'registered', generation: 1, registration: result.registration }]);
    } finally {
      subscriber.disconnect();
    }
    expect(await redis.hgetall(keys.status)).toEqual({ status: 'degraded', since: '1', epoch: '2' });
    expect(await redis.hget(keys.node('n1'), 'consecutiveFailures')).toBe('4');
  });

  it('writes nothing when the algorithm changed since it was read (a concurrent crypto switch)', async () => {
    const keys = new ProjectKeys(testPrefix('cc'), 'p');
    await redis.hset(keys.credential, { account: 'a', ciphertext: 'old', algorithm: 'sm2', keyId: 'k', generation: '4', registeredAt: '1' });
    const reply = await REGISTER.run(
      redis,
      { credential: keys.credential, status: keys.status, nodes: keys.nodes, recovery: keys.recovery, events: keys.events },
      { account: 'b', ciphertext: 'new', algorithm: 'rsa', keyId: 'k2', expectedAlgorithm: 'rsa', nodePrefix: keys.node(''), random: '00' },
    );
    expect(reply.stored).toBe(false);
    expect(await redis.hget(keys.credential, 'ciphertext')).toBe('old');
    expect(await redis.hget(keys.credential, 'generation')).toBe('4');
  });
});

describe('crypto switch step', () => {
  it('switches, keeps the generation, reports already-switched and missing credentials', async () => {
    const prefix = testPrefix('st');
    const keys = new ProjectKeys(prefix, 'p');
    const dir = keyDir();
    expect(await switchCredential(redis, keys, 'sm2', dir)).toEqual({ outcome: 'missing' });
    await registerCredential(redis, keys, { account: 'a', password: 'pw-st', keyDir: dir, defaultAlgorithm: 'rsa' });
    await registerCredential(redis, keys, { account: 'a', password: 'pw-st2', keyDir: dir, defaultAlgorithm: 'rsa' });
    const switched = await switchCredential(redis, keys, 'sm2', dir);
    expect(switched).toEqual({ outcome: 'switched', from: 'rsa', keyId: loadPublicKey(dir, 'sm2').keyId, generation: 2 });
    const cred = await readCredential(redis, keys);
    expect(cred).toMatchObject({ algorithm: 'sm2', generation: 2, keyId: loadPublicKey(dir, 'sm2').keyId });
    expect(cred && decryptCredential(cred, dir)).toBe('pw-st2');
    expect(await switchCredential(redis, keys, 'sm2', dir)).toMatchObject({ outcome: 'already' });
  });

  it('changes nothing when this node holds the wrong key for the stored credential', async () => {
    const keys = new ProjectKeys(testPrefix('wk'), 'p');
    await registerCredential(redis, keys, { account: 'a', password: 'pw-wk', keyDir: keyDir(), defaultAlgorithm: 'rsa' });
    const before = await redis.hgetall(keys.credential);
    await expect(switchCredential(redis, keys, 'sm2', keyDir())).rejects.toBeInstanceOf(KeyMismatchError);
    expect(await redis.hgetall(keys.credential)).toEqual(before);
  });

  it('compare-and-set refuses a stale ciphertext and a missing credential', async () => {
    const keys = new ProjectKeys(testPrefix('cas'), 'p');
    const run = (readCiphertext: string, ciphertext: string, algorithm: string, keyId: string) =>
      SWITCH.run(redis, { credential: keys.credential }, { readCiphertext, ciphertext, algorithm, keyId, random: '00' });
    expect(await run('x', 'y', 'sm2', 'k')).toBe(-1);
    await redis.hset(keys.credential, { account: 'a', ciphertext: 'current', algorithm: 'rsa', keyId: 'k1', generation: '1' });
    expect(await run('stale', 'new', 'sm2', 'k2')).toBe(0);
    expect(await redis.hgetall(keys.credential)).toMatchObject({ ciphertext: 'current', algorithm: 'rsa', keyId: 'k1' });
    expect(await run('current', 'new', 'sm2', 'k2')).toBe(1);
    // A new revision of the same registration (a credential from before 0.3.0 gets its identity by generation).
    expect(await redis.hgetall(keys.credential)).toEqual({
      account: 'a',
      ciphertext: 'new',
      algorithm: 'sm2',
      keyId: 'k2',
      generation: '1',
      registration: 'g1',
      revision: expect.stringMatching(/^v\d+\.\d{6}-00$/) as string,
      revisedAt: expect.stringMatching(/^\d+$/) as string,
    });
  });

  it('finds the projects of one key prefix only', async () => {
    const prefix = testPrefix('find');
    for (const project of ['b', 'a', 'c']) await redis.hset(new ProjectKeys(prefix, project).credential, 'account', 'x');
    await redis.hset(new ProjectKeys(`${prefix}x`, 'z').credential, 'account', 'x');
    await redis.hset(new ProjectKeys(prefix, 'd').status, 'status', 'failed');
    expect(await findCredentialProjects(redis, prefix)).toEqual(['a', 'b', 'c']);
  });
});

describe('password from stdin', () => {
  it('takes the first line only, without CR/LF, across chunks and without a final newline', async () => {
    const stream = new PassThrough();
    const line = readFirstLine(stream);
    stream.write('pass');
    stream.write('wörd 密\r\nsecond line\n');
    await expect(line).resolves.toBe('passwörd 密');

    const unterminated = new PassThrough();
    const last = readFirstLine(unterminated);
    unterminated.end('no-newline');
    await expect(last).resolves.toBe('no-newline');
  });

  it('stops reading a runaway stream', async () => {
    const stream = new PassThrough();
    const line = readFirstLine(stream);
    stream.write('x'.repeat(5000));
    await expect(line).rejects.toThrow(/longer than 4096 bytes/);
  });
});
