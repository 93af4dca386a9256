/**
 * The credential kept changing under a `register` or `crypto switch` (another register
 * or switch ran at the same time) for every retry. Nothing was written by this call.
 */
export class CredentialChangedError extends Error {
  readonly code = 'ERR_CREDENTIAL_CHANGED';
  readonly exitCode = 1;
  constructor(
    readonly project: string,
    operation: string,
  ) {
    super(`the credential of project ${project} changed while ${operation} ran (a concurrent register or crypto switch): run the command again`);
    this.name = 'CredentialChangedError';
  }
}
