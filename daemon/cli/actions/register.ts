import { plaintextBytes } from '../../../shared/crypto/encoding';
import { isAlgorithm } from '../../../shared/crypto/cipher';
import { loadPublicKey } from '../../../shared/crypto/key-files';
import { describeRedis } from '../../../shared/redis/connection';
import { withCliRedis } from '../cli-redis';
import { ProjectKeys } from '../../../shared/redis/keys';
import { cliLogger } from '../cli-logger';
import { PasswordInputError } from '../../credentials/password-input-error';
import { promptHidden, readFirstLine } from '../../credentials/read-password';
import { registerCredential } from '../../credentials/register-credential';
import { ExitCode, stringFlag, UsageError, type CommandContext } from '../command';
import { checkWithServer, describeRefusal } from '../register-check';

/**
 * `fdl-cloudauth register`: stores the project's public cloud account and its
 * encrypted password, and re-registers a `failed` project (SPEC R5, R9). The password
 * is never an argument: it comes from stdin (--password-stdin) or a hidden prompt.
 * The agents authenticate with it as soon as they hear the `registered` event.
 * Before it stores, the account and password are checked with the authorization
 * server as this node (register-check.ts): a refusal stores nothing. `--no-verify`
 * skips the check, with a warning, for a site that cannot reach the server yet.
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
  const verify = ctx.values['no-verify'] !== true;
  const cfg = ctx.config(verify ? ['project', 'authenticate'] : ['project']);
  const log = cliLogger(cfg.log.level, 'register');
  const keys = new ProjectKeys(cfg.redis.keyPrefix, cfg.project);

  return withCliRedis(cfg.redis, 'register', log, ctx.stderr, async (redis) => {
    const password = await readPassword(ctx, fromStdin);
    plaintextBytes(password);
    if (verify) {
      // The public key first: a missing key file is said before the server is asked,
      // so a check never binds the node (or spends a wrong password) for nothing.
      const stored = await redis.hget(keys.credential, 'algorithm').catch(() => null);
      loadPublicKey(cfg.crypto.keyDir, isAlgorithm(stored) ? stored : cfg.crypto.algorithm);
      const check = await checkWithServer(cfg, account, password);
      if (!check.outcome.ok) {
        log.debug({ project: cfg.project, code: check.outcome.code, reason: check.outcome.name }, 'register refused by the authorization server');
        ctx.stderr.write(describeRefusal(cfg, account, { ...check, outcome: check.outcome }));
        return ExitCode.FAILED;
      }
      ctx.stdout.write(`account ${account} checked with the authorization server as node ${cfg.node.id}: accepted (this node is bound)\n`);
    } else {
      ctx.stderr.write(
        `warning: the password was NOT checked with the authorization server (--no-verify): if it is wrong, every node fails with 30006 ` +
          'at its first attempt, and 10 wrong passwords in 15 minutes block the account. Run `fdl-cloudauth register` without --no-verify once the server is reachable, or watch `fdl-cloudauth status`.\n',
      );
    }
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
