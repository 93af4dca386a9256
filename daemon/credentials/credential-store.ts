import { isAlgorithm, type Algorithm } from '../../shared/crypto/cipher';
import { cipherFor } from '../../shared/crypto/ciphers';
import { KeyMismatchError } from '../../shared/crypto/errors/key-mismatch-error';
import { loadPrivateKey } from '../../shared/crypto/key-files';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { CorruptRecordError } from '../../shared/redis/records';
import { registrationOf } from '../../shared/redis/registration';

/**
 * Reading and decrypting the project's stored credential (the `credential` hash of
 * shared/redis/records.ts). Used by the agent before each authentication and by
 * `crypto switch`. Decrypting needs the private key of the credential's algorithm
 * from this node's key directory.
 */
export interface StoredCredential {
  readonly account: string;
  /** Base64; secret: never log it. */
  readonly ciphertext: string;
  readonly algorithm: Algorithm;
  /** Fingerprint of the public key the ciphertext was made with. */
  readonly keyId: string;
  /** +1 per `register`, for people; unchanged by `crypto switch`. May start again at 1 in an emptied Redis. */
  readonly generation: number;
  /** ms (Redis time) of the registration. */
  readonly registeredAt: number;
  /** The registration's identity, never repeated (shared/redis/registration.ts). */
  readonly registration: string;
  /** The ciphertext's identity: new at every `register` and `crypto switch` ('' before 0.3.0). */
  readonly revision: string;
  /** ms (Redis time) of the revision: orders two ciphertexts of one registration. */
  readonly revisedAt: number;
}

/** Parses the hash as HGETALL returns it: null when empty, CorruptRecordError when it does not parse. */
export function parseCredential(hash: Record<string, string>): StoredCredential | null {
  if (Object.keys(hash).length === 0) return null;
  const { account, ciphertext, algorithm, keyId, generation, registeredAt, revisedAt } = hash;
  if (!account) throw new CorruptRecordError('credential field account is missing');
  if (!ciphertext) throw new CorruptRecordError('credential field ciphertext is missing');
  if (!isAlgorithm(algorithm)) throw new CorruptRecordError('credential field algorithm is not rsa or sm2');
  if (!keyId) throw new CorruptRecordError('credential field keyId is missing');
  if (!generation || !/^\d+$/.test(generation)) throw new CorruptRecordError('credential field generation is not an integer');
  if (registeredAt !== undefined && registeredAt !== '' && !/^\d+$/.test(registeredAt)) {
    throw new CorruptRecordError('credential field registeredAt is not an integer');
  }
  if (revisedAt !== undefined && revisedAt !== '' && !/^\d+$/.test(revisedAt)) throw new CorruptRecordError('credential field revisedAt is not an integer');
  const registeredMs = registeredAt ? Number(registeredAt) : 0;
  return {
    account,
    ciphertext,
    algorithm,
    keyId,
    generation: Number(generation),
    registeredAt: registeredMs,
    registration: registrationOf(hash.registration, generation),
    revision: hash.revision ?? '',
    revisedAt: revisedAt ? Number(revisedAt) : registeredMs,
  };
}

/** The project's credential, or null before the first `register`. */
export async function readCredential(redis: RedisClient, keys: ProjectKeys): Promise<StoredCredential | null> {
  return parseCredential(await redis.hgetall(keys.credential));
}

/**
 * The password of a credential, decrypted with this node's private key of the
 * credential's algorithm (read from keyDir on every call, so replaced key files are
 * picked up). Throws KeyFileError (missing/open/invalid key file), KeyMismatchError
 * (the credential was made for another key pair) or DecryptError; no message ever
 * contains the password, the ciphertext or key material.
 */
export function decryptCredential(cred: Pick<StoredCredential, 'ciphertext' | 'algorithm' | 'keyId'>, keyDir: string): string {
  const key = loadPrivateKey(keyDir, cred.algorithm);
  if (key.keyId !== cred.keyId) {
    throw new KeyMismatchError(
      `the stored credential was encrypted for ${cred.algorithm} key ${cred.keyId}, but ${key.file} is key ${key.keyId}: ` +
        'copy the key files that register used to this node, or run `fdl-cloudauth register` again with this key pair',
      cred.keyId,
      key.keyId,
    );
  }
  return cipherFor(cred.algorithm).decrypt(key.text, cred.ciphertext);
}
