import type { Algorithm, Cipher } from './cipher';

/**
 * The cipher of an algorithm, its library loaded on first use: a node works with one
 * algorithm, and each library (node-forge for RSA, sm-crypto-v2 for SM2) costs about
 * 10 MiB of memory and tens of milliseconds to load. The ciphers keep no state, so
 * one of each serves every caller.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a synchronous load on first use is the point */
const LOADERS: Readonly<Record<Algorithm, () => Cipher>> = Object.freeze({
  rsa: () => new (require('./rsa-oaep-cipher') as typeof import('./rsa-oaep-cipher')).RsaOaepCipher(),
  sm2: () => new (require('./sm2-cipher') as typeof import('./sm2-cipher')).Sm2Cipher(),
});
/* eslint-enable @typescript-eslint/no-require-imports */

const loaded = new Map<Algorithm, Cipher>();

export function cipherFor(algorithm: Algorithm): Cipher {
  const cached = loaded.get(algorithm);
  if (cached) return cached;
  const load = Object.hasOwn(LOADERS, algorithm) ? LOADERS[algorithm] : undefined;
  if (!load) throw new Error(`unknown encryption algorithm "${String(algorithm)}": use rsa or sm2`);
  const cipher = load();
  loaded.set(algorithm, cipher);
  return cipher;
}
