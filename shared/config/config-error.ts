/**
 * Every problem found in the configuration, reported at once (exit code 2). In a file
 * of its own so that the CLI can recognise it without loading convict and the schema.
 */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nFix these keys in the config file (--config), the CLOUDAUTH_* environment or the flags, then start again.',
    );
    this.name = 'ConfigError';
  }
}
