import { lazyRun, type Command } from '../command';

export const registerCommand: Command = {
  name: 'register',
  summary: 'register or re-register the project: store the account and its encrypted password',
  help: `Usage: fdl-cloudauth register --account NAME [--password-stdin]

Encrypts the password with the public key of the project's algorithm (crypto.algorithm,
or the one crypto switch chose) from crypto.keyDir and stores it in Redis. A project
marked failed is cleared and every node starts a new streak.

  --account NAME      public cloud account of the project
  --password-stdin    read the password from the first line of stdin; without it the
                      password is asked for at the terminal (never as an argument)`,
  options: { account: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
  run: lazyRun(() => import('../actions/register')),
};
