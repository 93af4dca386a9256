import { parseArgs } from 'node:util';
import { COMMON_HELP, COMMON_OPTIONS, ExitCode, NOT_ECHOED, UsageError, type Command, type CommandIO } from './command';
import { COMMANDS } from './commands';
import { ConfigError } from '../../shared/config/config-error';
import { RedisUnreachableError } from '../../shared/redis/redis-unreachable-error';
import { packageVersion } from '../../shared/package-root';

/**
 * Parses argv, dispatches to a command, and turns the errors every command may meet
 * into one clear line and the exit code of SPEC §4 — never a stack trace for bad input.
 * Help and usage errors are answered from the command table alone: the configuration
 * loader and each command's code are loaded only when a command runs.
 */
function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `fdl-cloudauth ${packageVersion()} — keeps FineDataLink clusters registered through public cloud authentication`,
    '',
    'Usage: fdl-cloudauth <command> [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --config FILE, the CLOUDAUTH_* environment variables, and --help.',
    '',
    '  fdl-cloudauth --version  prints the version (also -v)',
    '  fdl-cloudauth --help     prints this help (also -h)',
  ].join('\n');
}

/**
 * A mistyped command line may hold a password (typed after the wrong flag, or pasted
 * as an argument): parse errors name the kind of mistake and an option's name, never
 * an argument's text.
 */
function describeArgsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = (error as Error).message ?? '';
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return `this command takes no positional arguments; one was given ${NOT_ECHOED}. Passwords are read from a prompt or --password-stdin, never from arguments`;
  }
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // Named only when it looks like one of ours (lower-case words joined by dashes).
    const option = /'(--[a-z][a-z-]{0,30})(?:=[^']*)?'/.exec(message)?.[1];
    return option ? `unknown option ${option}` : `unknown option ${NOT_ECHOED}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'(--[A-Za-z0-9][A-Za-z0-9-]*)/.exec(message)?.[1];
    return `option ${option ?? ''} needs a value, or takes none`.replace('  ', ' ');
  }
  return `invalid arguments ${NOT_ECHOED}`;
}

function commandHelp(command: Command): string {
  return `${command.help.trimEnd()}\n${COMMON_HELP}\n`;
}

export async function runCli(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${mainHelp()}\n`);
    return name ? ExitCode.OK : ExitCode.USAGE;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${packageVersion()}\n`);
    return ExitCode.OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`fdl-cloudauth: unknown command ${NOT_ECHOED}. Run \`fdl-cloudauth --help\` for the list.\n`);
    return ExitCode.USAGE;
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON_OPTIONS, ...command.options },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
  } catch (error) {
    io.stderr.write(`fdl-cloudauth ${name}: ${describeArgsError(error)}\n\n${commandHelp(command)}`);
    return ExitCode.USAGE;
  }
  if (parsed.values.help) {
    io.stdout.write(commandHelp(command));
    return ExitCode.OK;
  }

  const configFile = typeof parsed.values.config === 'string' ? parsed.values.config : undefined;
  try {
    const { loadConfig } = await import('../../shared/config/load');
    return await command.run({
      ...io,
      values: parsed.values,
      positionals: parsed.positionals,
      config: (needs, overrides) => loadConfig({ file: configFile, env: io.env, overrides, require: needs }),
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError || error instanceof RedisUnreachableError) {
      io.stderr.write(`fdl-cloudauth ${name}: ${error.message}\n`);
      return error.exitCode;
    }
    const code = (error as { exitCode?: unknown }).exitCode;
    io.stderr.write(`fdl-cloudauth ${name}: ${(error as Error).message ?? String(error)}\n`);
    return typeof code === 'number' ? code : ExitCode.FAILED;
  }
}
