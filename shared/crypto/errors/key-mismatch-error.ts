/**
 * The stored credential was encrypted for a key other than the one this node holds
 * (key files not copied to every node, or regenerated without re-registering).
 */
export class KeyMismatchError extends Error {
  readonly code = 'ERR_KEY_MISMATCH';
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly expectedKeyId: string,
    readonly actualKeyId: string,
  ) {
    super(message);
    this.name = 'KeyMismatchError';
  }
}
