import { ProjectKeys } from './keys';

/**
 * The least-privilege Redis ACL user of one project (issue 28, item 8): the rules a
 * sidecar, and the CLI commands a node runs (`register`, `crypto switch`, `status`,
 * `doctor`), need on a Redis shared by many projects, and nothing more. Written once
 * here; `deploy/redis/project-user.acl.template` carries the same list for operators
 * (test/shared/acl-rules.test.ts holds them equal), the test harness creates this user
 * on every test Redis, and `doctor` checks a user against it.
 *
 * - keys: `<prefix>:{<project>}:*` — every key of the project, BullMQ's queues included
 *   (their prefix is `<prefix>:{<project>}:bull`, see keys.ts);
 * - channels: `<prefix>:{<project>}:*` — the project's change events;
 * - commands: what BullMQ's Lua scripts call (read from its `commands/*.lua`), what our
 *   scripts call, and what the clients send themselves (BullMQ's blocking wait, the
 *   scripts, transactions, pub/sub, the connection's setup), found and confirmed by
 *   running the process tests under this user with the ACL LOG checked.
 *
 * Nothing of `@dangerous` but INFO: ioredis's ready check (which waits while a
 * restarted Redis loads its data — the recovery this product relies on) and BullMQ's
 * version and eviction-policy check read it. INFO shows server statistics, no key or
 * value of any project. SCAN and KEYS are left out: they would list other projects'
 * key names (only `crypto switch` without a project scans, an administrator's task).
 */

/** Commands the project's user is given, lower case as ACL GETUSER shows them. */
export const PROJECT_USER_COMMANDS: readonly string[] = [
  // the connection: AUTH/HELLO at connect, names for CLIENT LIST, ready check, health checks
  'auth',
  'hello',
  'ping',
  'quit',
  'select',
  'client|setname',
  'client|setinfo',
  'info',
  'time',
  // Redis Cluster: ioredis reads the slot map and, as its ready check, the cluster state;
  // it marks its connections to replicas READONLY (READWRITE when one is promoted)
  'cluster|slots',
  'cluster|info',
  'readonly',
  'readwrite',
  // scripts (ours and BullMQ's: EVALSHA, and EVAL when the server's script cache was emptied) and transactions
  'eval',
  'evalsha',
  'multi',
  'exec',
  'discard',
  // pub/sub on the project's channel
  'subscribe',
  'unsubscribe',
  'publish',
  // keys
  'del',
  'unlink',
  'exists',
  'type',
  'expire',
  'pexpire',
  'pexpireat',
  'persist',
  'pttl',
  'rename',
  // strings
  'get',
  'set',
  'incr',
  'incrby',
  // hashes
  'hdel',
  'hexists',
  'hget',
  'hgetall',
  'hincrby',
  'hlen',
  'hmget',
  'hmset',
  'hset',
  'hsetnx',
  // lists
  'lindex',
  'llen',
  'lpop',
  'lpos',
  'lpush',
  'lrange',
  'lrem',
  'lset',
  'ltrim',
  'rpop',
  'rpoplpush',
  'rpush',
  // sets
  'sadd',
  'scard',
  'sismember',
  'smembers',
  'srem',
  // sorted sets (BZPOPMIN: a BullMQ worker's blocking wait for its next job)
  'bzpopmin',
  'zadd',
  'zcard',
  'zcount',
  'zlexcount',
  'zpopmin',
  'zrange',
  'zrangebylex',
  'zrangebyscore',
  'zrem',
  'zremrangebyrank',
  'zremrangebyscore',
  'zrevrange',
  'zrevrangebyscore',
  'zscore',
  // streams (BullMQ's event stream, written by its scripts)
  'xadd',
  'xdel',
  'xlen',
  'xrange',
  'xread',
  'xtrim',
];

/**
 * Commands only some supported Redis versions know: an ACL rule naming a command the
 * server does not know is refused (`ACL SETUSER`, or the ACL file at start), so these
 * are left out for an older server. CLIENT SETINFO came with Redis 7.2; ioredis sends it
 * at connect and ignores the error of an older server.
 */
export const NEWER_COMMANDS: Readonly<Record<string, string>> = { 'client|setinfo': '7.2' };

/** The user's name: the key prefix and the project, so installations sharing a Redis do not collide. */
export function projectUserName(keyPrefix: string, project: string): string {
  return `${keyPrefix || 'cloudauth'}-${project}`;
}

/** The project's key pattern and channel pattern, as ACL rules. */
export function projectPatterns(keyPrefix: string, project: string): { keys: string; channels: string } {
  const base = new ProjectKeys(keyPrefix, project).base;
  return { keys: `~${base}:*`, channels: `&${base}:*` };
}

/**
 * The ACL rules of the project's user, without its password: for `ACL SETUSER <name>
 * ...rules >password` or a line of an ACL file (`user <name> ...rules #<sha256>`).
 */
export function projectUserRules(keyPrefix: string, project: string, options: { without?: readonly string[] } = {}): string[] {
  const { keys, channels } = projectPatterns(keyPrefix, project);
  const commands = PROJECT_USER_COMMANDS.filter((c) => !options.without?.includes(c));
  return ['reset', 'on', 'resetkeys', 'resetchannels', keys, channels, '-@all', ...commands.map((c) => `+${c}`)];
}
