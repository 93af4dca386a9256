import { createHash } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';
import type { Algorithm, Cipher, KeyPairText } from './cipher';
import { base64Bytes, plaintextBytes, plaintextText } from './encoding';
import { DecryptError } from './errors/decrypt-error';

/**
 * SM2 public-key encryption (GB/T 32918.4) on the recommended curve (GB/T 32918.5),
 * through sm-crypto-v2, in C1C3C2 order as FineReport's Guomi option uses it.
 *
 * Key files hold hex text on one line: the private key is the 32-byte scalar
 * (64 hex digits); the public key is the uncompressed point `04 || x || y`
 * (130 hex digits). The ciphertext is base64 of `04 || x1 || y1 || C3 || C2`: the
 * standard's C1 with its point-format byte, then the SM3 digest, then the masked
 * message. (sm-crypto-v2 writes C1 without the leading 04; we add and strip it.)
 */
const C1C3C2 = 1;
const PRIVATE_HEX = /^[0-9a-f]{64}$/;
const PUBLIC_HEX = /^04[0-9a-f]{128}$/;
/** 04 || x1 || y1 (65) + C3 (32) + at least one byte of C2. */
const MIN_CIPHERTEXT_BYTES = 65 + 32 + 1;

function normalise(text: string): string {
  return text.trim().toLowerCase();
}

function parsePublic(text: string): string {
  const hex = normalise(text);
  if (!PUBLIC_HEX.test(hex) || !sm2.verifyPublicKey(hex)) {
    throw new DecryptError('the SM2 public key is not 130 hex digits of an uncompressed point on the SM2 curve');
  }
  return hex;
}

function parsePrivate(text: string): string {
  const hex = normalise(text);
  if (!PRIVATE_HEX.test(hex) || /^0+$/.test(hex)) throw new DecryptError('the SM2 private key is not 64 hex digits');
  return hex;
}

export class Sm2Cipher implements Cipher {
  readonly algorithm: Algorithm = 'sm2';

  generateKeyPair(): KeyPairText {
    const pair = sm2.generateKeyPairHex();
    return { privateKey: `${pair.privateKey}\n`, publicKey: `${pair.publicKey}\n` };
  }

  encrypt(publicKey: string, plaintext: string): string {
    const key = parsePublic(publicKey);
    const bytes = plaintextBytes(plaintext);
    const hex = sm2.doEncrypt(bytes, key, C1C3C2);
    return Buffer.from(`04${hex}`, 'hex').toString('base64');
  }

  decrypt(privateKey: string, ciphertext: string): string {
    const key = parsePrivate(privateKey);
    const bytes = base64Bytes(ciphertext);
    if (bytes.length < MIN_CIPHERTEXT_BYTES || bytes[0] !== 0x04) {
      throw new DecryptError('the stored SM2 ciphertext is too short or not C1C3C2: the credential is damaged, register again');
    }
    let decrypted: Uint8Array;
    try {
      decrypted = sm2.doDecrypt(bytes.subarray(1).toString('hex'), key, C1C3C2, { output: 'array' });
    } catch {
      throw new DecryptError('the credential does not decrypt with the SM2 private key: wrong key or damaged ciphertext');
    }
    // sm-crypto-v2 answers an empty result, not an error, when C3 does not match.
    if (decrypted.length === 0) {
      throw new DecryptError('the credential does not decrypt with the SM2 private key: wrong key or damaged ciphertext');
    }
    return plaintextText(decrypted);
  }

  keyId(publicKey: string): string {
    return createHash('sha256')
      .update(Buffer.from(parsePublic(publicKey), 'hex'))
      .digest('hex')
      .slice(0, 16);
  }

  publicKeyOf(privateKey: string): string {
    const key = parsePrivate(privateKey);
    try {
      return `${sm2.getPublicKeyFromPrivateKey(key)}\n`;
    } catch {
      // sm-crypto-v2 throws a plain Error for a scalar not below the group order.
      throw new DecryptError('the SM2 private key is out of range for the SM2 curve');
    }
  }
}
