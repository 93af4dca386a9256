import type { Algorithm } from '../../shared/crypto/cipher';
import { isAlgorithm } from '../../shared/crypto/cipher';
import { cipherFor } from '../../shared/crypto/ciphers';
import { loadPublicKey } from '../../shared/crypto/key-files';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import { DamagedKeyError, isWrongType } from '../../shared/redis/damaged-key-error';
import { randomBytes } from 'node:crypto';
import { CredentialChangedError } from './credential-changed-error';

/**
 * `register`: encrypts the password with the public key of the project's algorithm
 * (the one stored with its credential, which `crypto switch` changes, else the
 * configured crypto.algorithm) and stores it through register-5.lua, which also
 * clears a `failed` project and resets the node streaks, and publishes `registered`.
 */
const REGISTER_KEYS = ['credential', 'status', 'nodes', 'recovery', 'events'] as const;

export const REGISTER = new LuaScript({
  file: 'daemon/credentials/lua/register-5.lua',
  keys: REGISTER_KEYS,
  args: ['account', 'ciphertext', 'algorithm', 'keyId', 'expectedAlgorithm', 'nodePrefix', 'random'],
  reply(raw, check) {
    const list = check.list(raw, 6);
    const [code, generation, registeredAt, clearedFailed, nodesReset] = list.slice(0, 5).map((v) => check.integer(v)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const registration = typeof list[5] === 'string' ? list[5] : check.fail('a registration identity');
    // -1: the key at KEYS[generation] has the wrong type (nothing written).
    if (code === -1)
      return {
        stored: false,
        damaged: REGISTER_KEYS[generation - 1] ?? check.fail('a key index'),
        generation,
        registeredAt,
        clearedFailed: false,
        nodesReset,
        registration,
      };
    return { stored: code === 1, damaged: null, generation, registeredAt, clearedFailed: clearedFailed === 1, nodesReset, registration };
  },
});
const ATTEMPTS = 3;

export interface RegisterInput {
  readonly account: string;
  /** Secret: encrypted here, never stored or logged in clear. */
  readonly password: string;
  readonly keyDir: string;
  /** crypto.algorithm: used when the project has no credential yet. */
  readonly defaultAlgorithm: Algorithm;
}

export interface RegisterResult {
  readonly algorithm: Algorithm;
  readonly keyId: string;
  readonly generation: number;
  readonly registeredAt: number;
  /** The registration's identity (SPEC R5): Redis TIME and random bytes, never repeated. */
  readonly registration: string;
  /** The project was `failed` and is now `unregistered` until its nodes authenticate. */
  readonly clearedFailed: boolean;
  /** Node records whose streak was reset (only when the project was failed). */
  readonly nodesReset: number;
}

export async function registerCredential(redis: RedisClient, keys: ProjectKeys, input: RegisterInput): Promise<RegisterResult> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const stored = await redis.hget(keys.credential, 'algorithm').catch((error: unknown) => {
      throw isWrongType(error) ? new DamagedKeyError('credential', keys.credential, REGISTER.file) : error;
    });
    const algorithm = isAlgorithm(stored) ? stored : input.defaultAlgorithm;
    const publicKey = loadPublicKey(input.keyDir, algorithm);
    const ciphertext = cipherFor(algorithm).encrypt(publicKey.text, input.password);
    const registerKeys = { credential: keys.credential, status: keys.status, nodes: keys.nodes, recovery: keys.recovery, events: keys.events };
    const reply = await REGISTER.run(redis, registerKeys, {
      account: input.account,
      ciphertext,
      algorithm,
      keyId: publicKey.keyId,
      expectedAlgorithm: stored ?? '',
      nodePrefix: keys.node(''),
      random: randomBytes(8).toString('hex'),
    });
    if (reply.damaged) throw new DamagedKeyError(reply.damaged, registerKeys[reply.damaged], REGISTER.file);
    if (reply.stored) {
      const { generation, registeredAt, clearedFailed, nodesReset, registration } = reply;
      return { algorithm, keyId: publicKey.keyId, generation, registeredAt, clearedFailed, nodesReset, registration };
    }
    // A crypto switch changed the algorithm between our read and our write: encrypt again.
  }
  throw new CredentialChangedError(keys.project, 'register');
}
