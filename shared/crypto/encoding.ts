import { MAX_PLAINTEXT_BYTES } from './cipher';
import { DecryptError } from './errors/decrypt-error';
import { PlaintextError } from './errors/plaintext-error';

/** The plaintext as UTF-8 bytes, refused when it could not be stored under every algorithm. */
export function plaintextBytes(plaintext: string): Buffer {
  if (typeof plaintext !== 'string' || plaintext.length === 0) throw new PlaintextError('the password is empty');
  const bytes = Buffer.from(plaintext, 'utf8');
  if (bytes.length > MAX_PLAINTEXT_BYTES) {
    throw new PlaintextError(`the password is ${bytes.length} bytes long in UTF-8; at most ${MAX_PLAINTEXT_BYTES} bytes can be stored`);
  }
  return bytes;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decrypted bytes back to text; bytes that are not UTF-8 mean a wrong key or damaged data. */
export function plaintextText(bytes: Uint8Array): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new DecryptError('the decrypted credential is not UTF-8 text: wrong key or damaged ciphertext');
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (Buffer.from silently skips junk, which would hide damage). */
export function base64Bytes(text: string): Buffer {
  if (typeof text !== 'string' || text.length === 0 || !BASE64.test(text)) {
    throw new DecryptError('the stored ciphertext is not base64: the credential is damaged, register again');
  }
  return Buffer.from(text, 'base64');
}
