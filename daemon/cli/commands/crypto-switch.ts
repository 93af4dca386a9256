import { isAlgorithm, type Algorithm } from '../../../shared/crypto/cipher';
import { DecryptError } from '../../../shared/crypto/errors/decrypt-error';
import { KeyFileError } from '../../../shared/crypto/errors/key-file-error';
import { KeyMismatchError } from '../../../shared/crypto/errors/key-mismatch-error';
import { loadPrivateKey, loadPublicKey } from '../../../shared/crypto/key-files';
import { withCliRedis } from '../cli-redis';
import { ProjectKeys } from '../../../shared/redis/keys';
import { CorruptRecordError } from '../../../shared/redis/records';
import { cliLogger } from '../../credentials/cli-logger';
import { CredentialChangedError } from '../../credentials/credential-changed-error';
import { findCredentialProjects, switchCredential } from '../../credentials/credential-switch';
import { ExitCode, stringFlag, UsageError, type Command, type CommandContext } from '../command';

/**
 * `fdl-cloudauth crypto switch --to rsa|sm2` (SPEC R9): re-encrypts the stored
 * password of the configured project, or of every project under the key prefix when
 * no project is configured, one crash-safe step per credential (credential-switch.ts).
 * Run it on a node: it needs both private keys. Running it again after an
 * interruption finishes the job; credentials already on the target are left alone.
 *
 * Test hook: CLOUDAUTH_TEST_CRASH_AFTER=<n> makes the process SIGKILL itself right
 * after the n-th credential was switched, so tests can show a crash loses nothing.
 */
const CRASH_AFTER_ENV = 'CLOUDAUTH_TEST_CRASH_AFTER';

/** Failures that concern one credential: reported, and the other credentials still switch. */
function isCredentialFailure(error: unknown): error is Error {
  return (
    error instanceof DecryptError ||
    error instanceof KeyMismatchError ||
    error instanceof KeyFileError ||
    error instanceof CredentialChangedError ||
    error instanceof CorruptRecordError
  );
}

export const cryptoSwitchCommand: Command = {
  name: 'crypto',
  summary: 're-encrypt every stored password with another algorithm (rsa or sm2)',
  help: `Usage: fdl-cloudauth crypto switch --to rsa|sm2

Re-encrypts the stored password of the configured project (or, with no project
configured, of every project under redis.keyPrefix) with the other algorithm. Each
password is decrypted, re-encrypted and checked before it is replaced in one atomic
step, so it stays readable throughout; run again after an interruption to finish.
Needs the private keys of both algorithms in crypto.keyDir.

  --to rsa|sm2    the algorithm to move to`,
  options: { to: { type: 'string' } },
  allowPositionals: true,
  async run(ctx: CommandContext): Promise<number> {
    if (ctx.positionals.length !== 1 || ctx.positionals[0] !== 'switch') {
      throw new UsageError(`expected \`crypto switch --to rsa|sm2\`, got \`crypto ${ctx.positionals.join(' ')}\``);
    }
    const to = stringFlag(ctx, 'to');
    if (!to) throw new UsageError('--to rsa|sm2 is required');
    if (!isAlgorithm(to)) throw new UsageError(`--to takes rsa or sm2, got "${to}"`);
    const crashAfterText = ctx.env[CRASH_AFTER_ENV];
    const crashAfter = crashAfterText && /^\d+$/.test(crashAfterText) ? Number(crashAfterText) : undefined;

    const cfg = ctx.config([]);
    const log = cliLogger(cfg.log.level, 'crypto');
    // Fail before touching anything when this machine lacks the target key pair.
    loadPublicKey(cfg.crypto.keyDir, to);
    loadPrivateKey(cfg.crypto.keyDir, to);

    return withCliRedis(cfg.redis, 'crypto-switch', log, async (redis) => {
      const projects = cfg.project ? [cfg.project] : await findCredentialProjects(redis, cfg.redis.keyPrefix);
      const counts = { switched: 0, already: 0, missing: 0, failed: 0 };
      for (const project of projects) {
        try {
          const result = await switchCredential(redis, new ProjectKeys(cfg.redis.keyPrefix, project), to as Algorithm, cfg.crypto.keyDir);
          counts[result.outcome] += 1;
          if (result.outcome === 'switched') {
            log.debug({ project, from: result.from, to, keyId: result.keyId }, 'credential switched');
            ctx.stdout.write(`project ${project}: switched from ${result.from} to ${to} (key id ${result.keyId})\n`);
            if (crashAfter !== undefined && counts.switched === crashAfter) process.kill(process.pid, 'SIGKILL');
          } else if (result.outcome === 'already') {
            ctx.stdout.write(`project ${project}: already on ${to}\n`);
          } else {
            ctx.stdout.write(`project ${project}: no stored credential (run \`fdl-cloudauth register\` first)\n`);
          }
        } catch (error) {
          if (!isCredentialFailure(error)) throw error;
          counts.failed += 1;
          log.debug({ project, to, error: error.name }, 'credential not switched');
          ctx.stderr.write(`fdl-cloudauth crypto: project ${project}: not switched, still readable with its old key: ${error.message}\n`);
        }
      }
      const parts = [`switched ${counts.switched} credential(s) to ${to}`, `${counts.already} already on ${to}`];
      if (counts.missing > 0) parts.push(`${counts.missing} without a credential`);
      if (counts.failed > 0) parts.push(`${counts.failed} failed`);
      ctx.stdout.write(`${parts.join(', ')}\n`);
      if (cfg.crypto.algorithm !== to) {
        ctx.stdout.write(
          `note: crypto.algorithm is ${cfg.crypto.algorithm} in this configuration; projects keep the algorithm stored with their credential, ` +
            `but set crypto.algorithm (CLOUDAUTH_CRYPTO_ALGORITHM) to ${to} so new projects start on ${to}\n`,
        );
      }
      return counts.failed > 0 ? ExitCode.FAILED : ExitCode.OK;
    });
  },
};
