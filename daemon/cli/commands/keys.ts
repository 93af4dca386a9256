import { lazyRun, type Command } from '../command';

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
  run: lazyRun(() => import('../actions/keys')),
};
