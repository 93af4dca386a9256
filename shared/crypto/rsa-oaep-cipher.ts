import { createHash, createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import type { Algorithm, Cipher, KeyPairText } from './cipher';
import { base64Bytes, plaintextBytes, plaintextText } from './encoding';
import { DecryptError } from './errors/decrypt-error';

/**
 * RSA-OAEP with SHA-256 as the hash and as MGF1's hash (the pairing node:crypto,
 * OpenSSL and Java's "RSA/ECB/OAEPWithSHA-256AndMGF1Padding" with an explicit
 * MGF1-SHA-256 use), 2048-bit keys, through node-forge (SPEC R9). Keys are PEM:
 * PKCS#8 private keys (PKCS#1 is accepted too) and SPKI public keys.
 */
const BITS = 2048;

function oaep() {
  return { md: forge.md.sha256.create(), mgf1: { md: forge.md.sha256.create() } };
}

function parsePublic(pem: string): forge.pki.rsa.PublicKey {
  try {
    return forge.pki.publicKeyFromPem(pem);
  } catch {
    throw new DecryptError('the RSA public key is not a PEM public key');
  }
}

function parsePrivate(pem: string): forge.pki.rsa.PrivateKey {
  try {
    const key = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey | null;
    if (!key) throw new Error('not RSA');
    return key;
  } catch {
    throw new DecryptError('the RSA private key is not a PEM RSA private key');
  }
}

export class RsaOaepCipher implements Cipher {
  readonly algorithm: Algorithm = 'rsa';

  generateKeyPair(): KeyPairText {
    // forge hands this to node:crypto's native generator when available.
    const pair = forge.pki.rsa.generateKeyPair({ bits: BITS, e: 0x10001 });
    const pkcs8 = forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(pair.privateKey));
    return { privateKey: forge.pki.privateKeyInfoToPem(pkcs8), publicKey: forge.pki.publicKeyToPem(pair.publicKey) };
  }

  encrypt(publicKey: string, plaintext: string): string {
    const key = parsePublic(publicKey);
    const bytes = plaintextBytes(plaintext);
    const encrypted = key.encrypt(bytes.toString('binary'), 'RSA-OAEP', oaep());
    return forge.util.encode64(encrypted);
  }

  decrypt(privateKey: string, ciphertext: string): string {
    const key = parsePrivate(privateKey);
    const bytes = base64Bytes(ciphertext);
    let decrypted: string;
    try {
      decrypted = key.decrypt(bytes.toString('binary'), 'RSA-OAEP', oaep());
    } catch {
      throw new DecryptError('the credential does not decrypt with the RSA private key: wrong key or damaged ciphertext');
    }
    return plaintextText(Buffer.from(decrypted, 'binary'));
  }

  keyId(publicKey: string): string {
    let der: Buffer;
    try {
      der = createPublicKey(publicKey).export({ type: 'spki', format: 'der' });
    } catch {
      throw new DecryptError('the RSA public key is not a PEM public key');
    }
    // Of the DER, not the PEM text, so line endings or headers do not change the id.
    return createHash('sha256').update(der).digest('hex').slice(0, 16);
  }

  publicKeyOf(privateKey: string): string {
    const key = parsePrivate(privateKey);
    return forge.pki.publicKeyToPem(forge.pki.setRsaPublicKey(key.n, key.e));
  }
}
