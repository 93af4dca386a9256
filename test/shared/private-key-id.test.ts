import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cipherFor } from '../../shared/crypto/ciphers';
import { DecryptError } from '../../shared/crypto/errors/decrypt-error';
import { KeyFileError } from '../../shared/crypto/errors/key-file-error';
import { KEY_FILE_NAMES, loadPrivateKey } from '../../shared/crypto/key-files';
import { privateKeyId } from '../../shared/crypto/private-key-id';

/**
 * The key id of a private key, derived with node:crypto (so a sidecar need not load
 * both cipher libraries to say which keys it can open), is the id the ciphers give
 * the public key of the pair — for every key the ciphers accept — and what they
 * refuse, it refuses.
 */
/** The SM2 group order n: a private key is a scalar in [1, n-1]. */
const SM2_N = 'fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123';

describe.each(['rsa', 'sm2'] as const)('%s', (algorithm) => {
  const cipher = cipherFor(algorithm);

  it('gives the key id of the public key of the pair, as the cipher does', () => {
    for (let i = 0; i < 3; i++) {
      const pair = cipher.generateKeyPair();
      expect(privateKeyId(algorithm, pair.privateKey)).toBe(cipher.keyId(pair.publicKey));
      expect(privateKeyId(algorithm, pair.privateKey)).toBe(cipher.keyId(cipher.publicKeyOf(pair.privateKey)));
    }
  });

  it('refuses what is not a private key of the algorithm with DecryptError, as the cipher does', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const other = cipherFor(algorithm === 'rsa' ? 'sm2' : 'rsa').generateKeyPair().privateKey;
    for (const text of ['', 'not a key', ec, other, '0'.repeat(64)]) {
      expect(() => privateKeyId(algorithm, text)).toThrow(DecryptError);
      expect(() => cipher.publicKeyOf(text)).toThrow(DecryptError);
    }
  });
});

it('reads PKCS#1 RSA private keys as the cipher does', () => {
  const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  const rsa = cipherFor('rsa');
  expect(privateKeyId('rsa', pkcs1)).toBe(rsa.keyId(rsa.publicKeyOf(pkcs1)));
});

it('accepts upper-case hex and surrounding white space in an SM2 key file, as the cipher does', () => {
  const sm2 = cipherFor('sm2');
  const pair = sm2.generateKeyPair();
  expect(privateKeyId('sm2', `  ${pair.privateKey.trim().toUpperCase()}\r\n`)).toBe(sm2.keyId(pair.publicKey));
});

it('treats an SM2 scalar not below the group order as an invalid key file, not a crash', () => {
  // Before, sm-crypto-v2's plain Error ("out of range") escaped loadPrivateKey, and with
  // it every caller's handling of KeyFileError (a sidecar's key-id announcement among them).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-sm2-range-'));
  try {
    for (const scalar of [SM2_N, 'f'.repeat(64)]) {
      expect(() => privateKeyId('sm2', scalar)).toThrow(DecryptError);
      expect(() => cipherFor('sm2').publicKeyOf(scalar)).toThrow(DecryptError);
      const file = path.join(dir, KEY_FILE_NAMES.sm2.private);
      writeFileSync(file, `${scalar}\n`);
      chmodSync(file, 0o600);
      expect(() => loadPrivateKey(dir, 'sm2')).toThrow(KeyFileError);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
