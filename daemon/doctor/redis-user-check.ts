import Redis from 'ioredis';
import type { RedisClient } from '../../shared/redis/connection';
import { PROJECT_USER_COMMANDS } from '../../shared/redis/acl-rules';
import type { ProjectKeys } from '../../shared/redis/keys';
import { fail, pass, type CheckResult } from './check-result';

/**
 * Whether the Redis user doctor runs as is the project's least-privilege user of
 * deploy/redis/ (issue 28, item 8): a command the product needs and the user lacks is
 * an error naming it (the sidecar would fail at that step, perhaps only on a rare
 * path); a user that can do more — FLUSHALL, KEYS, another project's keys or channel —
 * is a warning (a node of one project could damage the others).
 *
 * Each probe is queued inside MULTI and thrown away with DISCARD: Redis checks the
 * ACL when a command is queued (NOPERM) and runs nothing of a discarded transaction, so
 * even FLUSHALL is probed harmlessly, with the user's own rights (ACL DRYRUN would need
 * an administrator's). Redis logs each refused probe in its ACL LOG, as for any client.
 */

/** The arguments after the command name that make each probe well-formed; keys are the project's. */
function probeArgs(command: string, key: string, channel: string): string[] | null {
  const [name = '', sub] = command.split('|');
  if (sub) {
    const subArgs: Record<string, string[]> = {
      'client|setname': ['doctor'],
      'client|setinfo': ['lib-name', 'doctor'],
      'cluster|slots': [],
    };
    return [name, sub, ...(subArgs[command] ?? [])];
  }
  // Not probed: the connection's own steps (already done, or they end it) and the
  // transaction that carries the probes; SUBSCRIBE would turn the connection into a
  // subscriber (PUBLISH probes the channel).
  if (['auth', 'hello', 'quit', 'multi', 'exec', 'discard', 'subscribe', 'unsubscribe'].includes(name)) return null;
  const args: Record<string, string[]> = {
    ping: [],
    select: ['0'],
    info: [],
    time: [],
    eval: ['return 1', '0'],
    evalsha: ['0'.repeat(40), '0'],
    publish: [channel, 'doctor'],
    rename: [key, `${key}-2`],
    rpoplpush: [key, `${key}-2`],
    expire: [key, '1'],
    pexpire: [key, '1'],
    pexpireat: [key, '1'],
    set: [key, '1'],
    incrby: [key, '1'],
    hdel: [key, 'f'],
    hexists: [key, 'f'],
    hget: [key, 'f'],
    hincrby: [key, 'f', '1'],
    hmget: [key, 'f'],
    hmset: [key, 'f', '1'],
    hset: [key, 'f', '1'],
    hsetnx: [key, 'f', '1'],
    lindex: [key, '0'],
    lpos: [key, 'x'],
    lpush: [key, 'x'],
    lrange: [key, '0', '0'],
    lrem: [key, '0', 'x'],
    lset: [key, '0', 'x'],
    ltrim: [key, '0', '0'],
    rpush: [key, 'x'],
    sadd: [key, 'x'],
    sismember: [key, 'x'],
    srem: [key, 'x'],
    bzpopmin: [key, '1'],
    zadd: [key, '1', 'x'],
    zcount: [key, '0', '1'],
    zlexcount: [key, '-', '+'],
    zrange: [key, '0', '0'],
    zrangebylex: [key, '-', '+'],
    zrangebyscore: [key, '0', '1'],
    zrem: [key, 'x'],
    zremrangebyrank: [key, '0', '0'],
    zremrangebyscore: [key, '0', '1'],
    zrevrange: [key, '0', '0'],
    zrevrangebyscore: [key, '1', '0'],
    zscore: [key, 'x'],
    xadd: [key, '*', 'f', 'v'],
    xdel: [key, '0-1'],
    xrange: [key, '-', '+'],
    xread: ['STREAMS', key, '0'],
    xtrim: [key, 'MAXLEN', '1'],
  };
  return [name, ...(args[name] ?? [key])];
}

/** What the user must not be able to do; each a well-formed command. */
function beyondProject(keys: ProjectKeys): Array<{ what: string; argv: string[] }> {
  const other = `${keys.keyPrefix}:{doctor-probe-other-project}`;
  return [
    { what: 'FLUSHALL', argv: ['flushall'] },
    { what: 'FLUSHDB', argv: ['flushdb'] },
    { what: 'KEYS', argv: ['keys', 'doctor-probe'] },
    { what: 'SCAN', argv: ['scan', '0'] },
    { what: 'CONFIG SET', argv: ['config', 'set', 'maxmemory-policy', 'noeviction'] },
    { what: 'ACL SETUSER', argv: ['acl', 'setuser', 'doctor-probe'] },
    { what: "another project's keys", argv: ['get', `${other}:credential`] },
    { what: 'keys outside the prefix', argv: ['get', 'doctor-probe-outside-prefix'] },
    { what: "another project's channel", argv: ['publish', `${other}:events`, 'doctor'] },
  ];
}

type Verdict = 'allowed' | 'denied' | 'unknown';

/** Queues each command in one MULTI, then DISCARD: NOPERM → denied, an unknown command → unknown, else allowed. */
async function probe(connection: Redis, commands: readonly string[][]): Promise<Verdict[]> {
  await connection.multi({ pipeline: false });
  const verdicts: Verdict[] = [];
  try {
    for (const [name = '', ...args] of commands) {
      try {
        await connection.call(name, ...args);
        verdicts.push('allowed');
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (message.startsWith('NOPERM')) verdicts.push('denied');
        else if (/unknown (sub)?command/i.test(message)) verdicts.push('unknown');
        // MOVED/ASK (Cluster) and any other refusal come after the ACL check: allowed.
        else verdicts.push('allowed');
      }
    }
  } finally {
    await connection.discard().catch(() => undefined);
  }
  return verdicts;
}

/** A connection of the same user to one node: Cluster clients do not run MULTI without keys. */
function oneNode(redis: RedisClient): { connection: Redis; own: boolean } {
  if (redis instanceof Redis) return { connection: redis.duplicate({ lazyConnect: false }), own: true };
  const node = redis.nodes('master')[0];
  if (!node) throw new Error('no Redis Cluster node is connected');
  return { connection: node.duplicate({ lazyConnect: false }), own: true };
}

export async function checkRedisUser(redis: RedisClient, keys: ProjectKeys): Promise<CheckResult[]> {
  const title = 'Redis user: what the product needs';
  const titleMore = 'Redis user: nothing beyond the project';
  const key = `${keys.base}:doctor-probe`;
  const channel = `${keys.base}:doctor-probe`;
  const needed = PROJECT_USER_COMMANDS.map((c) => ({ c, argv: probeArgs(c, key, channel) })).filter((p): p is { c: string; argv: string[] } => p.argv !== null);
  const more = beyondProject(keys);
  const { connection, own } = oneNode(redis);
  connection.on('error', () => undefined);
  let verdicts: Verdict[];
  try {
    verdicts = await probe(connection, [...needed.map((p) => p.argv), ...more.map((m) => m.argv)]);
  } catch (error) {
    const message = error instanceof Error && error.message.startsWith('NOPERM') ? 'MULTI is not allowed' : 'the probe could not run';
    return [fail('redis-user', title, message, 'give the user the rules of deploy/redis/project-user.acl.template (see deploy/redis/README.md)')];
  } finally {
    if (own) connection.disconnect();
  }
  const missing = needed.filter((_, i) => verdicts[i] === 'denied').map((p) => p.c.replace('|', ' ').toUpperCase());
  const beyond = more.filter((_, i) => verdicts[needed.length + i] === 'allowed').map((m) => m.what);
  const results: CheckResult[] = [];
  if (missing.length > 0) {
    results.push(
      fail(
        'redis-user',
        title,
        `the Redis user may not run ${missing.join(', ')} on the project's keys, which the sidecar needs`,
        'give the user the rules of deploy/redis/project-user.acl.template (see deploy/redis/README.md)',
      ),
    );
  } else {
    results.push(pass('redis-user', title, `every command the sidecar needs is allowed on ${keys.base}:*`));
  }
  if (beyond.length > 0) {
    results.push(
      fail(
        'redis-user-scope',
        titleMore,
        `the Redis user can also use ${beyond.join(', ')}: a node of this project could damage the others`,
        "run the sidecars as the project's own user (deploy/redis/README.md)",
        false,
      ),
    );
  } else {
    results.push(pass('redis-user-scope', titleMore, `limited to ${keys.base}:* and its channel`));
  }
  return results;
}
