import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { Algorithm } from '../../shared/crypto/cipher';
import { cipherFor } from '../../shared/crypto/ciphers';
import { DecryptError } from '../../shared/crypto/errors/decrypt-error';
import { KeyFileError } from '../../shared/crypto/errors/key-file-error';
import { loadPrivateKey, loadPublicKey } from '../../shared/crypto/key-files';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import { CredentialChangedError } from './credential-changed-error';
import { decryptCredential, readCredential } from './credential-store';

/**
 * `crypto switch`: moves one project's stored password to another algorithm in one
 * crash-safe step. The new ciphertext is made and checked (it must decrypt to the same
 * password with the target private key) entirely in memory; only then does
 * switch-credential-1.lua replace ciphertext, algorithm and key id together, and only
 * if the ciphertext is still the one that was decrypted. Whenever the process dies,
 * Redis holds either the old triple or the new one, and both decrypt.
 */
/** 1 switched, 0 the credential changed meanwhile, -1 there is none. */
export const SWITCH = new LuaScript({
  file: 'daemon/credentials/lua/switch-credential-1.lua',
  keys: ['credential'],
  args: ['readCiphertext', 'ciphertext', 'algorithm', 'keyId', 'random'],
  reply: (raw, check) => check.integer(raw),
});
const ATTEMPTS = 3;

export type SwitchOutcome =
  | { readonly outcome: 'switched'; readonly from: Algorithm; readonly keyId: string; readonly generation: number }
  | { readonly outcome: 'already'; readonly keyId: string; readonly generation: number }
  | { readonly outcome: 'missing' };

export async function switchCredential(redis: RedisClient, keys: ProjectKeys, to: Algorithm, keyDir: string): Promise<SwitchOutcome> {
  // Load the target pair first: a node without the target keys changes nothing.
  const targetPublic = loadPublicKey(keyDir, to);
  const targetPrivate = loadPrivateKey(keyDir, to);
  if (targetPublic.keyId !== targetPrivate.keyId) {
    throw new KeyFileError(
      `${targetPublic.file} and ${targetPrivate.file} are not one key pair: restore the matching files (or generate a new pair and register again)`,
      targetPublic.file,
    );
  }
  const target = cipherFor(to);

  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const cred = await readCredential(redis, keys);
    if (!cred) return { outcome: 'missing' };
    if (cred.algorithm === to) return { outcome: 'already', keyId: cred.keyId, generation: cred.generation };

    const password = decryptCredential(cred, keyDir);
    const ciphertext = target.encrypt(targetPublic.text, password);
    // Round trip before writing: what is stored must be readable.
    if (target.decrypt(targetPrivate.text, ciphertext) !== password) {
      throw new DecryptError(`the ${to} round-trip check failed for project ${keys.project}: nothing was changed`);
    }
    const result = await SWITCH.run(
      redis,
      { credential: keys.credential },
      { readCiphertext: cred.ciphertext, ciphertext, algorithm: to, keyId: targetPublic.keyId, random: randomBytes(8).toString('hex') },
    );
    if (result === 1) return { outcome: 'switched', from: cred.algorithm, keyId: targetPublic.keyId, generation: cred.generation };
    if (result === -1) return { outcome: 'missing' };
    // 0: a register or another switch wrote meanwhile; read the new credential and decide again.
  }
  throw new CredentialChangedError(keys.project, 'crypto switch');
}

const CREDENTIAL_KEY = /^(.*):\{([^{}]+)\}:credential$/;

/**
 * Every project with a credential under the key prefix, by SCAN (never KEYS, which
 * blocks a production Redis), on every primary of a Cluster. Sorted, without duplicates.
 */
export async function findCredentialProjects(redis: RedisClient, keyPrefix: string): Promise<string[]> {
  const pattern = `${keyPrefix}:{*}:credential`;
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const projects = new Set<string>();
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, found] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const key of found) {
        const match = CREDENTIAL_KEY.exec(key);
        if (match && match[1] === keyPrefix && match[2]) projects.add(match[2]);
      }
    } while (cursor !== '0');
  }
  return [...projects].sort();
}
