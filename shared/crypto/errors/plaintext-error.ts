/** A password that cannot be stored (empty, too long); the message never repeats it. */
export class PlaintextError extends Error {
  readonly code = 'ERR_PLAINTEXT';
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'PlaintextError';
  }
}
