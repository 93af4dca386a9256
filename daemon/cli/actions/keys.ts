import { existsSync } from 'node:fs';
import path from 'node:path';
import { ALGORITHMS } from '../../../shared/crypto/cipher';
import { cipherFor } from '../../../shared/crypto/ciphers';
import { ensureKeyDir, keyFilePath, loadPrivateKey, loadPublicKey, PRIVATE_KEY_MODE, PUBLIC_KEY_MODE, writeFileAtomic } from '../../../shared/crypto/key-files';
import { cliLogger } from '../cli-logger';
import { ExitCode, NOT_ECHOED, stringFlag, UsageError, type CommandContext } from '../command';

export async function run(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length !== 1 || ctx.positionals[0] !== 'generate') {
    throw new UsageError(`expected \`keys generate\`, got ${ctx.positionals.length} other argument(s) ${NOT_ECHOED}`);
  }
  const cfg = ctx.config([]);
  const log = cliLogger(cfg.log.level, 'keys');
  const dir = path.resolve(stringFlag(ctx, 'dir') ?? cfg.crypto.keyDir);
  const force = ctx.values.force === true;

  const files = ALGORITHMS.flatMap((algorithm) => [keyFilePath(dir, algorithm, 'private'), keyFilePath(dir, algorithm, 'public')]);
  const existing = files.filter((file) => existsSync(file));
  if (existing.length > 0 && !force) {
    ctx.stderr.write(
      `fdl-cloudauth keys: refusing to overwrite existing key files: ${existing.join(', ')}. ` +
        'Passwords stored with them would no longer decrypt. Pass --force to replace them, then run `fdl-cloudauth register` again.\n',
    );
    return ExitCode.FAILED;
  }

  ensureKeyDir(dir);
  for (const algorithm of ALGORITHMS) {
    const pair = cipherFor(algorithm).generateKeyPair();
    // Each file is replaced whole. A crash between the two renames leaves a pair whose
    // key ids differ: decrypting names the mismatch, and running this again repairs it.
    writeFileAtomic(keyFilePath(dir, algorithm, 'private'), pair.privateKey, PRIVATE_KEY_MODE);
    writeFileAtomic(keyFilePath(dir, algorithm, 'public'), pair.publicKey, PUBLIC_KEY_MODE);
    const privateKey = loadPrivateKey(dir, algorithm);
    const publicKey = loadPublicKey(dir, algorithm);
    if (privateKey.keyId !== publicKey.keyId) {
      ctx.stderr.write(
        `fdl-cloudauth keys: ${privateKey.file} and ${publicKey.file} do not match after writing (another keys generate ran at the same time?): run the command again\n`,
      );
      return ExitCode.FAILED;
    }
    log.debug({ algorithm, keyId: publicKey.keyId, dir }, 'key pair written');
    ctx.stdout.write(`${algorithm}: wrote ${privateKey.file} (mode 0600) and ${publicKey.file} (mode 0644), key id ${publicKey.keyId}\n`);
  }
  if (existing.length > 0) {
    ctx.stdout.write('replaced the previous keys: copy the new key files to every node and run `fdl-cloudauth register` again\n');
  }
  return ExitCode.OK;
}
