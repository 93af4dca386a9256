import { createHash } from 'node:crypto';
import type { Logger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { DamagedKeyError, damagedRole } from '../../shared/redis/damaged-key-error';
import { LuaScript } from '../../shared/redis/lua-script';

/**
 * SPEC §4: records in Redis that do not parse are skipped, logged once and counted.
 * "Once" is per (record, content): the same broken hash read on every sweep and
 * scrape is logged the first time only; if it changes and is still broken, that is a
 * new corrupt record. The count lives in Redis (count-corrupt-2.lua), so whoever
 * finds a record — leader, non-leader, CLI, a previous leader — adds to the one total
 * that `fdl_cloudauth_corrupt_records_total` exports. This process remembers what it
 * already logged and sent, bounded so a record that keeps changing cannot grow memory
 * without end.
 */
const COUNT_KEYS = ['seen', 'counters'] as const;
/** The project's total of corrupt records after counting these; or the role of a key it keeps them in that has the wrong type (nothing counted). */
const COUNT = new LuaScript({
  file: 'daemon/view/lua/count-corrupt-2.lua',
  keys: COUNT_KEYS,
  args: ['mostRemembered'],
  variadic: true,
  reply: (raw, check): { total: number } | { damaged: (typeof COUNT_KEYS)[number] } => {
    const role = damagedRole(raw);
    if (role !== null) return { damaged: check.oneOf(role, COUNT_KEYS) };
    return { total: check.integer(raw) };
  },
});
const MAX_REMEMBERED_IN_REDIS = 10_000;

export class CorruptRecordLog {
  private readonly seen = new Set<string>();
  private count = 0;
  /** Found here and not yet counted in Redis. */
  private pending: string[] = [];

  constructor(
    private readonly log: Logger,
    private readonly maxRemembered = 10_000,
  ) {}

  /** Corrupt records found by this process (each distinct one counted once). */
  get total(): number {
    return this.count;
  }

  /** Returns true when this (kind, id, content) is reported for the first time. */
  report(kind: string, id: string, content: string, error: Error): boolean {
    const digest = createHash('sha1').update(kind).update('\0').update(id).update('\0').update(content).digest('hex');
    if (this.seen.has(digest)) return false;
    if (this.seen.size >= this.maxRemembered) this.seen.clear();
    this.seen.add(digest);
    this.count += 1;
    this.pending.push(`${kind}:${id}:${digest}`);
    // The content itself is not logged: a record is not supposed to hold secrets, but a
    // corrupted one may hold anything.
    this.log.warn({ kind, id, problem: error.message, digest }, 'Skipped a Redis record that does not parse');
    return true;
  }

  /**
   * Adds what this process found to the project's count in Redis and returns the
   * project's total. Kept for the next call when Redis fails. Null when the count's own
   * keys are damaged (wrong type): what was found is logged, and not counted.
   */
  async flush(redis: RedisClient, keys: ProjectKeys): Promise<number | null> {
    const fields = this.pending;
    this.pending = [];
    try {
      const countKeys = { seen: keys.corruptSeen, counters: keys.counters };
      const reply = await COUNT.run(redis, countKeys, { mostRemembered: MAX_REMEMBERED_IN_REDIS }, fields);
      if ('total' in reply) return reply.total;
      // Named, with its fix (DamagedKeyError's message); what was found is logged already.
      this.log.warn({ err: new DamagedKeyError(reply.damaged, countKeys[reply.damaged], COUNT.file) }, 'Could not count corrupt records');
      return null;
    } catch (error) {
      this.pending = [...fields, ...this.pending];
      throw error;
    }
  }

  get unflushed(): number {
    return this.pending.length;
  }
}
