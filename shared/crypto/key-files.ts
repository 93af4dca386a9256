import { lstatSync, mkdirSync, readFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Algorithm } from './cipher';
import { cipherFor } from './ciphers';
import { DecryptError } from './errors/decrypt-error';
import { KeyFileError } from './errors/key-file-error';
import { privateKeyId } from './private-key-id';

/**
 * The key directory (config crypto.keyDir, SPEC R9): one key pair per algorithm.
 *
 *   rsa-private.pem   PKCS#8 PEM, mode 0600     rsa-public.pem   SPKI PEM, mode 0644
 *   sm2-private.key   64 hex digits, mode 0600  sm2-public.key   04||x||y, 130 hex digits, mode 0644
 *
 * `register` needs only the public key of the project's algorithm; the agent and
 * `crypto switch` need the private keys, which live on the nodes and never in Redis.
 * The directory is created 0700. A private key readable or writable by group or
 * others is refused rather than used, as ssh does.
 */
export type KeyKind = 'private' | 'public';

export const KEY_FILE_NAMES: Readonly<Record<Algorithm, Readonly<Record<KeyKind, string>>>> = Object.freeze({
  rsa: Object.freeze({ private: 'rsa-private.pem', public: 'rsa-public.pem' }),
  sm2: Object.freeze({ private: 'sm2-private.key', public: 'sm2-public.key' }),
});

export const PRIVATE_KEY_MODE = 0o600;
export const PUBLIC_KEY_MODE = 0o644;
export const KEY_DIR_MODE = 0o700;

export interface LoadedKey {
  readonly algorithm: Algorithm;
  readonly kind: KeyKind;
  readonly file: string;
  /** The file's text: key material, never to be logged or shown. */
  readonly text: string;
  /** Fingerprint of the public key (of the pair, for a private key). */
  readonly keyId: string;
}

export function keyFilePath(dir: string, algorithm: Algorithm, kind: KeyKind): string {
  return path.join(dir, KEY_FILE_NAMES[algorithm][kind]);
}

function generateHint(dir: string): string {
  return `run \`fdl-cloudauth keys generate --dir ${dir}\` once and copy the key files to every node`;
}

function statOrExplain(file: string, dir: string): Stats {
  let stats: Stats;
  try {
    stats = lstatSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyFileError(`key file ${file} does not exist: ${generateHint(dir)}`, file);
    throw new KeyFileError(`key file ${file} cannot be read (${code ?? 'error'}): check the path and its permissions`, file);
  }
  if (!stats.isFile()) throw new KeyFileError(`key file ${file} is not a regular file: replace it with the key file (symbolic links are not followed)`, file);
  return stats;
}

function readOrExplain(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new KeyFileError(`key file ${file} cannot be read (${code}): run as the user that owns it, or fix its permissions`, file);
  }
}

function keyIdOrExplain(file: string, dir: string, compute: () => string): string {
  try {
    return compute();
  } catch (error) {
    if (error instanceof DecryptError) {
      throw new KeyFileError(`key file ${file} does not hold a valid key: restore it or ${generateHint(dir)} (then register again)`, file);
    }
    throw error;
  }
}

export function loadPublicKey(dir: string, algorithm: Algorithm): LoadedKey {
  const file = keyFilePath(dir, algorithm, 'public');
  statOrExplain(file, dir);
  const text = readOrExplain(file);
  const keyId = keyIdOrExplain(file, dir, () => cipherFor(algorithm).keyId(text));
  return { algorithm, kind: 'public', file, text, keyId };
}

export function loadPrivateKey(dir: string, algorithm: Algorithm): LoadedKey {
  const file = keyFilePath(dir, algorithm, 'private');
  const stats = statOrExplain(file, dir);
  if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
    throw new KeyFileError(`private key file ${file} has mode ${mode}, open to group or others: run \`chmod 600 ${file}\``, file);
  }
  const text = readOrExplain(file);
  const keyId = keyIdOrExplain(file, dir, () => privateKeyId(algorithm, text));
  return { algorithm, kind: 'private', file, text, keyId };
}

/** Creates the key directory 0700 when absent (an existing one keeps its mode). */
export function ensureKeyDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: KEY_DIR_MODE });
}

export { writeFileAtomic } from '../fs-atomic';
