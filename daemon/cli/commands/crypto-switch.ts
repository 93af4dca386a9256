import { lazyRun, type Command } from '../command';

export const cryptoSwitchCommand: Command = {
  name: 'crypto',
  summary: 're-encrypt every stored password with another algorithm (rsa or sm2)',
  help: `Usage: fdl-cloudauth crypto switch --to rsa|sm2

Re-encrypts the stored password of the configured project (or, with no project
configured, of every project under redis.keyPrefix) with the other algorithm. Each
password is decrypted, re-encrypted and checked before it is replaced in one atomic
step, so it stays readable throughout; run again after an interruption to finish.
Needs the private keys of both algorithms in crypto.keyDir. A project is left as it
is when one of its live nodes has not made known that it can open the target key
(copy the key files to that node first); stale nodes are not checked, but named.

  --to rsa|sm2    the algorithm to move to
  --force         switch even when live nodes could not open the new ciphertext
                  (they then fail every attempt until they have the key)`,
  options: { to: { type: 'string' }, force: { type: 'boolean' } },
  allowPositionals: true,
  run: lazyRun(() => import('../actions/crypto-switch')),
};
