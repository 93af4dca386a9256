import type { Algorithm } from '../../shared/crypto/cipher';
import { isAlgorithm } from '../../shared/crypto/cipher';
import { cipherFor } from '../../shared/crypto/ciphers';
import { loadPublicKey } from '../../shared/crypto/key-files';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import { DamagedKeyError, damagedRole, isWrongType } from '../../shared/redis/damaged-key-error';
import { randomBytes } from 'node:crypto';
import { CredentialChangedError } from './credential-changed-error';

/**
 * `register`: encrypts the password with the public key of the project's algorithm
 * (the one stored with its credential, which `crypto switch` changes, else the
 * configured crypto.algorithm) and stores it through register-5.lua, which also
 * clears a `failed` project and resets the node streaks, and publishes `registered`.
 */
const REGISTER_KEYS = ['credential', 'status', 'nodes', 'recovery', 'events'] as const;
/** The keys register-5.lua checks for their type: the role a damaged-key reply names. */
const CHECKED_KEYS = ['credential', 'status', 'nodes', 'recovery'] as const;

export const REGISTER = new LuaScript({
  file: 'daemon/credentials/lua/register-5.lua',
  keys: REGISTER_KEYS,
  args: ['account', 'ciphertext', 'algorithm', 'keyId', 'expectedAlgorithm', 'nodePrefix', 'random'],
  reply(raw, check) {
    // A key of the wrong type (nothing written): the prelude's damaged-key reply names its role.
    const role = damagedRole(raw);
    if (role !== null)
      return { stored: false, damaged: check.oneOf(role, CHECKED_KEYS), generation: 0, registeredAt: 0, clearedFailed: false, nodesReset: 0, registration: '' };
    const [code, generation, registeredAt, clearedFailed, nodesReset, registration] = check.list(raw, 6);
    return {
      stored: check.integer(code) === 1,
      damaged: null,
      generation: check.integer(generation),
      registeredAt: check.integer(registeredAt),
      clearedFailed: check.integer(clearedFailed) === 1,
      nodesReset: check.integer(nodesReset),
      registration: typeof registration === 'string' ? registration : check.fail('a registration identity'),
    };
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
