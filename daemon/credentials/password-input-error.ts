/** The password could not be read (stdin empty or not a terminal, aborted prompt). */
export class PasswordInputError extends Error {
  readonly code = 'ERR_PASSWORD_INPUT';
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'PasswordInputError';
  }
}
