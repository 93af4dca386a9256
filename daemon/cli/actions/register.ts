import { plaintextBytes } from '../../../shared/crypto/encoding';
import { describeRedis } from '../../../shared/redis/connection';
import { withCliRedis } from '../cli-redis';
import { ProjectKeys } from '../../../shared/redis/keys';
import { cliLogger } from '../cli-logger';
import { PasswordInputError } from '../../credentials/password-input-error';
import { promptHidden, readFirstLine } from '../../credentials/read-password';
import { registerCredential } from '../../credentials/register-credential';
import { ExitCode, stringFlag, UsageError, type CommandContext } from '../command';

/**
 * `fdl-cloudauth register`: stores the project's public cloud account and its
 * encrypted password, and re-registers a `failed` project (SPEC R5, R9). The password
 * is never an argument: it comes from stdin (--password-stdin) or a hidden prompt.
 * The agents authenticate with it as soon as they hear the `registered` event.
 */
const ACCOUNT = /^[^\s\p{Cc}][^\p{Cc}]{0,127}$/u;

async function readPassword(ctx: CommandContext, fromStdin: boolean): Promise<string> {
  if (fromStdin) return readFirstLine(ctx.stdin);
  const first = await promptHidden(ctx.stdin, ctx.stderr, 'Password: ');
  const again = await promptHidden(ctx.stdin, ctx.stderr, 'Repeat password: ');
  if (first !== again) throw new PasswordInputError('the two passwords differ: nothing was stored, run register again');
  return first;
}

export async function run(ctx: CommandContext): Promise<number> {
  const account = stringFlag(ctx, 'account');
  if (!account) throw new UsageError('--account NAME is required');
  if (!ACCOUNT.test(account)) throw new UsageError('--account takes 1-128 printable characters, not starting with a space');
  const fromStdin = ctx.values['password-stdin'] === true;
  if (!fromStdin && !(ctx.stdin as { isTTY?: boolean }).isTTY) {
    throw new UsageError(
      'stdin is not a terminal, so the password cannot be asked for: pass it on the first line of stdin with --password-stdin ' +
        '(e.g. `fdl-cloudauth register --account NAME --password-stdin < password-file`)',
    );
  }
  const cfg = ctx.config(['project']);
  const log = cliLogger(cfg.log.level, 'register');
  const keys = new ProjectKeys(cfg.redis.keyPrefix, cfg.project);

  return withCliRedis(cfg.redis, 'register', log, async (redis) => {
    const password = await readPassword(ctx, fromStdin);
    plaintextBytes(password);
    log.debug({ project: cfg.project, redis: describeRedis(cfg.redis) }, 'storing credential');
    const result = await registerCredential(redis, keys, {
      account,
      password,
      keyDir: cfg.crypto.keyDir,
      defaultAlgorithm: cfg.crypto.algorithm,
    });
    log.debug({ project: cfg.project, algorithm: result.algorithm, keyId: result.keyId, generation: result.generation }, 'credential stored');
    ctx.stdout.write(
      `registered project ${cfg.project}: account ${account}, algorithm ${result.algorithm}, key id ${result.keyId}, generation ${result.generation}\n`,
    );
    if (result.clearedFailed) {
      ctx.stdout.write(`the project was failed: it is unregistered until its nodes authenticate, and ${result.nodesReset} node streak(s) were reset\n`);
    }
    return ExitCode.OK;
  });
}
