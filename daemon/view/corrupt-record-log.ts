import { createHash } from 'node:crypto';
import type { Logger } from '../../shared/logger';

/**
 * SPEC §4: records in Redis that do not parse are skipped, logged once and counted.
 * "Once" is per (record, content): the same broken hash read on every sweep and
 * scrape is logged and counted the first time only; if it changes and is still
 * broken, that is a new corrupt record. The seen set is bounded so a record that
 * keeps changing cannot grow memory without end.
 */
export class CorruptRecordLog {
  private readonly seen = new Set<string>();
  private count = 0;

  constructor(
    private readonly log: Logger,
    private readonly maxRemembered = 10_000,
  ) {}

  /** Corrupt records seen by this process (each distinct one counted once). */
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
    // The content itself is not logged: a record is not supposed to hold secrets, but a
    // corrupted one may hold anything.
    this.log.warn({ kind, id, problem: error.message, digest }, 'Skipped a Redis record that does not parse');
    return true;
  }
}
