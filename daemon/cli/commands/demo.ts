import { lazyRun, type Command } from '../command';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run a whole three-node cluster on this machine and show it fail and recover',
  help: `Usage: fdl-cloudauth demo [--duration 150s] [--pace fast]

Starts Redis (a private redis-server on a free loopback port unless a Redis is
configured with redis.url, CLOUDAUTH_REDIS_URL or --config; a configured one is used
under a key prefix of its own, removed at the end), the reference authorization
server with a demo account, and three sidecars (node-1..3, heartbeat every 3s,
failed at 4 consecutive failures). Then one node's IP is taken out of the account's
allow-list: the project goes degraded, then failed, is registered again and recovers,
in about a minute, shown as a live table. Prints each sidecar's metrics URL.

  --duration D    stop after D (e.g. 150s, 5m); without it the demo runs until Ctrl-C
  --pace P        normal (default) or fast: the same story on a 1s heartbeat, the
                  failed project held for 1s instead of 6s (for scripted runs)

Exit code 0 when the story reached "registered again", 1 otherwise. The demo
account's password is random (CLOUDAUTH_DEMO_PASSWORD sets it) and never printed.`,
  options: { duration: { type: 'string' }, pace: { type: 'string' } },
  run: lazyRun(() => import('../actions/demo')),
};
