/**
 * A ciphertext did not decrypt (wrong key, damaged data). The message is fixed by the
 * caller and never contains the ciphertext, the key or any plaintext (SPEC R9).
 */
export class DecryptError extends Error {
  readonly code = 'ERR_DECRYPT';
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'DecryptError';
  }
}
