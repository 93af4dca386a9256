import { existsSync } from 'node:fs';
import path from 'node:path';
import { ALGORITHMS } from '../../../shared/crypto/cipher';
import { cipherFor } from '../../../shared/crypto/ciphers';
import {
  ensureKeyDir,
  keyFilePath,
  loadPrivateKey,
  loadPublicKey,
  PRIVATE_KEY_MODE,
  PUBLIC_KEY_MODE,
  writeFileAtomic,
} from '../../../shared/crypto/key-files';
import { cliLogger } from '../../credentials/cli-logger';
import { ExitCode, NOT_ECHOED, stringFlag, UsageError, type Command, type CommandContext } from '../command';

/**
 * `fdl-cloudauth keys generate`: the RSA-2048 and SM2 key pairs that protect the
 * stored password (SPEC R9). Refuses to replace existing keys without --force, since
 * a password stored with the old keys would no longer decrypt.
 */
export const keysCommand: Command = {
  name: 'keys',
  summary: 'generate the RSA and SM2 key pairs that encrypt the stored password',
  help: `Usage: fdl-cloudauth keys generate [--dir DIR] [--force]

Writes rsa-private.pem, rsa-public.pem, sm2-private.key and sm2-public.key into DIR
(private keys mode 0600, the directory 0700 when created). Copy the directory to every
node: register needs the public keys, the agents the private keys.

  --dir DIR    key directory (default: crypto.keyDir, CLOUDAUTH_KEY_DIR)
  --force      replace existing key files (passwords stored with the old keys must be
               registered again)`,
  options: { dir: { type: 'string' }, force: { type: 'boolean' } },
  allowPositionals: true,
  async run(ctx: CommandContext): Promise<number> {
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
        ctx.stderr.write(`fdl-cloudauth keys: ${privateKey.file} and ${publicKey.file} do not match after writing (another keys generate ran at the same time?): run the command again\n`);
        return ExitCode.FAILED;
      }
      log.debug({ algorithm, keyId: publicKey.keyId, dir }, 'key pair written');
      ctx.stdout.write(
        `${algorithm}: wrote ${privateKey.file} (mode 0600) and ${publicKey.file} (mode 0644), key id ${publicKey.keyId}\n`,
      );
    }
    if (existing.length > 0) {
      ctx.stdout.write('replaced the previous keys: copy the new key files to every node and run `fdl-cloudauth register` again\n');
    }
    return ExitCode.OK;
  },
};
