/**
 * What the product needs from a public-key algorithm to keep the cloud password at
 * rest (SPEC R9): encrypt with a public key anywhere (`register`), decrypt with a
 * private key only on the nodes (the agent, `crypto switch`). Keys and ciphertexts
 * travel as text: keys as the contents of their files, ciphertexts as base64.
 */
export type Algorithm = 'rsa' | 'sm2';
export const ALGORITHMS: readonly Algorithm[] = ['rsa', 'sm2'];

export function isAlgorithm(value: unknown): value is Algorithm {
  return value === 'rsa' || value === 'sm2';
}

/** A key pair as the text of its two files. */
export interface KeyPairText {
  readonly publicKey: string;
  readonly privateKey: string;
}

/**
 * Longest password (UTF-8 bytes) every algorithm can encrypt: RSA-OAEP-SHA256 with a
 * 2048-bit key carries at most 256 - 2*32 - 2 = 190 bytes. SM2 has no limit, but
 * `crypto switch` must always be able to move a password back to RSA.
 */
export const MAX_PLAINTEXT_BYTES = 190;

export interface Cipher {
  readonly algorithm: Algorithm;
  generateKeyPair(): KeyPairText;
  /** Base64 ciphertext; a fresh random one on every call. */
  encrypt(publicKey: string, plaintext: string): string;
  /** The plaintext; DecryptError (never naming the data) when it does not decrypt. */
  decrypt(privateKey: string, ciphertext: string): string;
  /** Short fingerprint of a public key: 16 hex digits of its SHA-256. */
  keyId(publicKey: string): string;
  /** The public key belonging to a private key, as the text of a public key file. */
  publicKeyOf(privateKey: string): string;
}
