import { isAlgorithm, type Algorithm } from '../../../shared/crypto/cipher';
import { DecryptError } from '../../../shared/crypto/errors/decrypt-error';
import { KeyFileError } from '../../../shared/crypto/errors/key-file-error';
import { KeyMismatchError } from '../../../shared/crypto/errors/key-mismatch-error';
import { loadPrivateKey, loadPublicKey } from '../../../shared/crypto/key-files';
import { withCliRedis } from '../cli-redis';
import { ProjectKeys } from '../../../shared/redis/keys';
import { CorruptRecordError } from '../../../shared/redis/records';
import { cliLogger } from '../cli-logger';
import { CredentialChangedError } from '../../credentials/credential-changed-error';
import { findCredentialProjects, switchCredential } from '../../credentials/credential-switch';
import { readCredential } from '../../credentials/credential-store';
import { keyIdLabel } from '../../credentials/node-key-ids';
import { describeUnable, switchReadiness } from '../../credentials/switch-readiness';
import { KEY_FILE_NAMES } from '../../../shared/crypto/key-files';
import { ExitCode, NOT_ECHOED, stringFlag, UsageError, type CommandContext } from '../command';
import { viewPolicy } from '../../view/view-policy';

/**
 * `fdl-cloudauth crypto switch --to rsa|sm2` (SPEC R9): re-encrypts the stored
 * password of the configured project, or of every project under the key prefix when
 * no project is configured, one crash-safe step per credential (credential-switch.ts).
 * Run it on a node: it needs both private keys. Running it again after an
 * interruption finishes the job; credentials already on the target are left alone.
 * A project is not switched while one of its live nodes has not made known that it
 * can open the target key (R9; node-key-ids.ts): `--force` switches anyway, loudly.
 */

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

export async function run(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length !== 1 || ctx.positionals[0] !== 'switch') {
    throw new UsageError(`expected \`crypto switch --to rsa|sm2\`, got ${ctx.positionals.length} other argument(s) ${NOT_ECHOED}`);
  }
  const to = stringFlag(ctx, 'to');
  if (!to) throw new UsageError('--to rsa|sm2 is required');
  if (!isAlgorithm(to)) throw new UsageError(`--to takes rsa or sm2, got "${to}"`);
  const cfg = ctx.config([]);
  const log = cliLogger(cfg.log.level, 'crypto');
  // Fail before touching anything when this machine lacks the target key pair.
  const target = keyIdLabel(to, loadPublicKey(cfg.crypto.keyDir, to).keyId);
  loadPrivateKey(cfg.crypto.keyDir, to);
  const force = ctx.values.force === true;
  const policy = viewPolicy(cfg);
  const keyFiles = `${KEY_FILE_NAMES[to].private} and ${KEY_FILE_NAMES[to].public}`;

  return withCliRedis(cfg.redis, 'crypto-switch', log, ctx.stderr, async (redis) => {
    const projects = cfg.project ? [cfg.project] : await findCredentialProjects(redis, cfg.redis.keyPrefix);
    const counts = { switched: 0, already: 0, missing: 0, failed: 0 };
    for (const project of projects) {
      const keys = new ProjectKeys(cfg.redis.keyPrefix, project);
      // Only a project that would really change is checked (already on the target, or no credential: nothing to refuse).
      const current = await readCredential(redis, keys).catch(() => null);
      const readiness = current && current.algorithm !== to ? await switchReadiness(redis, keys, policy, log, target) : { unable: [], staleNotChecked: [] };
      if (readiness.unable.length > 0) {
        const who = describeUnable(readiness.unable);
        if (!force) {
          counts.failed += 1;
          ctx.stderr.write(
            `fdl-cloudauth crypto: project ${project}: not switched: live node(s) ${who} could not open the new ${to} ciphertext (key ${target}). ` +
              `Copy ${keyFiles} from ${cfg.crypto.keyDir} to those nodes' crypto.keyDir (their sidecars announce the key at their next attempt), ` +
              `or pass --force to switch anyway\n`,
          );
          continue;
        }
        log.warn({ project, to, nodes: readiness.unable.map((n) => n.id) }, 'crypto switch forced past nodes that cannot open the new ciphertext');
        ctx.stderr.write(
          `WARNING: --force: switching project ${project} to ${to} although live node(s) ${who} cannot open the new ciphertext (key ${target}); ` +
            `they will fail every attempt (nothing is sent: they cannot open the credential) until ${keyFiles} are in their crypto.keyDir\n`,
        );
      }
      if (readiness.staleNotChecked.length > 0) {
        ctx.stderr.write(
          `note: project ${project}: stale node(s) ${readiness.staleNotChecked.join(', ')} were not checked and have not shown they can open key ${target}: ` +
            `give them ${keyFiles} before their sidecars run again\n`,
        );
      }
      try {
        const result = await switchCredential(redis, keys, to as Algorithm, cfg.crypto.keyDir);
        counts[result.outcome] += 1;
        if (result.outcome === 'switched') {
          log.debug({ project, from: result.from, to, keyId: result.keyId }, 'credential switched');
          ctx.stdout.write(`project ${project}: switched from ${result.from} to ${to} (key id ${result.keyId})\n`);
        } else if (result.outcome === 'already') {
          ctx.stdout.write(`project ${project}: already on ${to}\n`);
        } else {
          ctx.stdout.write(`project ${project}: no stored credential (run \`fdl-cloudauth register\` first)\n`);
        }
      } catch (error) {
        if (!isCredentialFailure(error)) throw error;
        counts.failed += 1;
        log.debug({ project, to, err: error }, 'credential not switched');
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
}
