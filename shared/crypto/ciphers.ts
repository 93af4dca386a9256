import type { Algorithm, Cipher } from './cipher';
import { RsaOaepCipher } from './rsa-oaep-cipher';
import { Sm2Cipher } from './sm2-cipher';

const CIPHERS: Readonly<Record<Algorithm, Cipher>> = Object.freeze({ rsa: new RsaOaepCipher(), sm2: new Sm2Cipher() });

/** The cipher of an algorithm; the ciphers keep no state, so one of each serves every caller. */
export function cipherFor(algorithm: Algorithm): Cipher {
  const cipher = CIPHERS[algorithm];
  if (!cipher) throw new Error(`unknown encryption algorithm "${String(algorithm)}": use rsa or sm2`);
  return cipher;
}
