import { createECDH, createHash, createPrivateKey, createPublicKey, getCurves } from 'node:crypto';
import type { Algorithm } from './cipher';
import { cipherFor } from './ciphers';
import { DecryptError } from './errors/decrypt-error';

/**
 * The key id of a private key (the id of its public key: 16 hex digits of SHA-256,
 * as Cipher.keyId computes it), derived with node:crypto alone. Every sidecar
 * derives the ids of all the private keys in its key directory at each attempt, to
 * make known which ciphertexts it can open (R9); through the ciphers that would load
 * node-forge and sm-crypto-v2 both, where the node uses one of them.
 */
function fingerprint(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

function rsaKeyId(pem: string): string {
  let der: Buffer;
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    // The SPKI DER of the public half: what RsaOaepCipher.keyId hashes.
    der = createPublicKey(key).export({ type: 'spki', format: 'der' });
  } catch {
    throw new DecryptError('the RSA private key is not a PEM RSA private key');
  }
  return fingerprint(der);
}

const PRIVATE_HEX = /^[0-9a-f]{64}$/;

function sm2KeyId(text: string): string {
  const hex = text.trim().toLowerCase();
  if (!PRIVATE_HEX.test(hex) || /^0+$/.test(hex)) throw new DecryptError('the SM2 private key is not 64 hex digits');
  const ecdh = createECDH('SM2');
  try {
    ecdh.setPrivateKey(Buffer.from(hex, 'hex'));
  } catch {
    // A scalar not below the group order is no SM2 private key.
    throw new DecryptError('the SM2 private key is out of range for the SM2 curve');
  }
  // 04 || x || y, the bytes Sm2Cipher.keyId hashes.
  return fingerprint(ecdh.getPublicKey());
}

/** OpenSSL builds without SM2 exist (some distributions leave it out): there the cipher derives it. */
const nativeSm2 = getCurves().includes('SM2');

export function privateKeyId(algorithm: Algorithm, text: string): string {
  if (algorithm === 'rsa') return rsaKeyId(text);
  if (algorithm === 'sm2' && nativeSm2) return sm2KeyId(text);
  const cipher = cipherFor(algorithm);
  return cipher.keyId(cipher.publicKeyOf(text));
}
