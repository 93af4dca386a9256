/**
 * A demo that cannot go on: a missing program, a part that did not start, a step of
 * the story that did not happen in time. The message says what and what to do; the
 * command prints it and exits 1 after stopping everything it started.
 */
export class DemoError extends Error {
  readonly code = 'ERR_DEMO';
  readonly exitCode = 1;

  constructor(message: string) {
    super(message);
    this.name = 'DemoError';
  }
}
