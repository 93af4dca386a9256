/**
 * A key file is missing, unreadable, too open (a private key readable by others) or
 * not a key. The message names the file and the fix, never the key material.
 */
export class KeyFileError extends Error {
  readonly code = 'ERR_KEY_FILE';
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'KeyFileError';
  }
}
