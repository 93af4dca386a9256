import type { ParseArgsConfig } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import type { Config, Requirement } from '../../shared/config/load';

/**
 * A CLI command: its flags, its help, and `run`, which returns the exit code.
 * Exit codes: 0 done, 1 the operation failed, 2 bad usage or configuration,
 * 3 Redis unreachable.
 */
export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandIO {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable;
  readonly env: NodeJS.ProcessEnv;
}

export interface CommandContext extends CommandIO {
  readonly values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  readonly positionals: string[];
  /** Loads configuration with --config, the environment and the given flag overrides. */
  config(require: Requirement[], overrides?: Record<string, unknown>): Config;
}

export interface Command {
  readonly name: string;
  /** One line for `fdl-cloudauth --help`. */
  readonly summary: string;
  /** Usage lines and flag descriptions for `fdl-cloudauth <name> --help`. */
  readonly help: string;
  readonly options: Options;
  /** Sub-commands as positionals (e.g. `keys generate`); checked by the command. */
  readonly allowPositionals?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

/**
 * A command's `run` that loads its code (daemon/cli/actions/<name>.ts) only when the
 * command runs: `--help`, a usage error or another command never pay for the
 * modules it needs (BullMQ, ioredis, the ciphers, the reference server, the demo).
 */
export function lazyRun(load: () => Promise<{ run(ctx: CommandContext): Promise<number> }>): (ctx: CommandContext) => Promise<number> {
  return async (ctx) => (await load()).run(ctx);
}

export const ExitCode = Object.freeze({ OK: 0, FAILED: 1, USAGE: 2, REDIS_UNREACHABLE: 3 });

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  readonly exitCode = ExitCode.USAGE;
}

export const COMMON_OPTIONS: Options = {
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export const COMMON_HELP = `  --config FILE   JSON configuration file (defaults < file < environment < flags)
  -h, --help      this help`;

/** A string flag's value, or undefined. */
export function stringFlag(ctx: CommandContext, name: string): string | undefined {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A numeric flag, checked: the message names the flag and what it takes. */
export function intFlag(ctx: CommandContext, name: string, min = 0): number | undefined {
  const value = stringFlag(ctx, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} takes a whole number of at least ${min}, got "${value}"`);
  return Number(value);
}

/** Said instead of an argument's text, which may be a password typed in the wrong place. */
export const NOT_ECHOED = '(not repeated here: it may be a password)';
