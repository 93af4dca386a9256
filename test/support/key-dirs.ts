import { ALGORITHMS } from '../../shared/crypto/cipher';
import { cipherFor } from '../../shared/crypto/ciphers';
import { ensureKeyDir, keyFilePath, PRIVATE_KEY_MODE, PUBLIC_KEY_MODE, writeFileAtomic } from '../../shared/crypto/key-files';

/**
 * Writes a fresh key pair per algorithm into `dir`, as `keys generate` does (same
 * functions, same modes), without a CLI process: the command keeps its own tests, the
 * others only need its result.
 */
export function writeKeyPairs(dir: string): string {
  ensureKeyDir(dir);
  for (const algorithm of ALGORITHMS) {
    const pair = cipherFor(algorithm).generateKeyPair();
    writeFileAtomic(keyFilePath(dir, algorithm, 'private'), pair.privateKey, PRIVATE_KEY_MODE);
    writeFileAtomic(keyFilePath(dir, algorithm, 'public'), pair.publicKey, PUBLIC_KEY_MODE);
  }
  return dir;
}
