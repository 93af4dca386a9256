import { lazyRun, type Command } from '../command';

export const registerCommand: Command = {
  name: 'register',
  summary: 'register or re-register the project: check the account and password with the server, then store them encrypted',
  help: `Usage: fdl-cloudauth register --account NAME [--password-stdin] [--no-verify]

First checks the account and password with the authorization server (authServer.url),
authenticating as this node (node.id, node.ip, node.domain, node.appName,
product.version): a refusal prints its reason and what to do, and stores nothing. The
check binds this node on success (the slot its sidecar takes anyway) and counts as one
wrong password on failure (the server blocks an account after 10 in 15 minutes). Run it
on a node of the project, with that node's configuration.

Then encrypts the password with the public key of the project's algorithm (crypto.algorithm,
or the one crypto switch chose) from crypto.keyDir and stores it in Redis. A project
marked failed is cleared and every node starts a new streak.

  --account NAME      public cloud account of the project
  --password-stdin    read the password from the first line of stdin; without it the
                      password is asked for at the terminal (never as an argument)
  --no-verify         store without checking with the server (a site that registers
                      before its firewall lets it reach the server); says so on stderr`,
  options: { account: { type: 'string' }, 'password-stdin': { type: 'boolean' }, 'no-verify': { type: 'boolean' } },
  run: lazyRun(() => import('../actions/register')),
};
