import type { Redis } from 'ioredis';

/**
 * Server-side command counts (INFO commandstats), to cross-check the client-side
 * counters and to attribute commands to connections we do not own (BullMQ's).
 * Redis 7 counts the commands a Lua script runs in commandstats too, under their
 * own names; `evalsha`/`eval` entries are the top-level calls.
 */
export type CommandStats = Record<string, number>;

export async function commandStats(redis: Redis): Promise<CommandStats> {
  const text = await redis.info('commandstats');
  const stats: CommandStats = {};
  for (const line of text.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match?.[1] && match[2]) stats[match[1]] = Number(match[2]);
  }
  return stats;
}

export function diffStats(before: CommandStats, after: CommandStats): CommandStats {
  const diff: CommandStats = {};
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0);
    if (d > 0) diff[name] = d;
  }
  return diff;
}

export function totalOf(stats: CommandStats, exclude: readonly string[] = []): number {
  return Object.entries(stats).reduce((sum, [name, n]) => (exclude.includes(name) ? sum : sum + n), 0);
}

export function formatStats(stats: CommandStats, per = 1): string {
  return Object.entries(stats)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${Math.round((n / per) * 100) / 100}`)
    .join(', ');
}
