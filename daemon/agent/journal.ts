import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Outcome } from '../protocol/classify';
import { writeFileAtomic } from '../../shared/fs-atomic';
import type { LocalDisk, LocalWriter } from './local-disk';

/**
 * The local journal of SPEC §4. While Redis is unreachable the agent still
 * authenticates on time and appends every result here, one JSON line per attempt,
 * fsync'ed before the attempt is considered done. When Redis returns the lines are
 * replayed in order through the same idempotent recording, then the file is emptied
 * with an atomic rename. A crash mid-replay only means some lines are replayed again,
 * which the attempt id makes harmless. The file survives a restart of the sidecar.
 *
 * The entries in memory are the truth while the process lives. When the disk refuses a
 * write (removed, full, read-only: LocalDisk), the result is held in memory only — at
 * most HELD_MAX results in all, the oldest dropped past it, each drop logged — and the whole
 * file is written again once the disk takes writes (LocalDisk's retry). A restart in
 * that state loses what was held only in memory; `unsaved` counts it, and close() says so.
 */

/**
 * Results held while the journal cannot be written: 1,000 is 83 days of the default 2 h
 * heartbeat, longer than any lockout (24 h), in a few hundred KiB of memory.
 */
export const HELD_MAX = 1000;

export interface JournalEntry {
  nodeId: string;
  attemptId: string;
  outcome: Outcome;
  generation: number;
  /** Identity of the registration the attempt used; absent in lines journaled by 0.2.0 (its generation names it). */
  registration?: string;
  /** Estimated Redis time of the attempt (local clock + last known Redis offset). */
  atMs: number;
  /** lastAttemptAt of the node's record as the node held it when the attempt began (record-attempt-7.lua, "Time"). */
  madeAfter?: number;
}

export class Journal implements LocalWriter {
  readonly file: string;
  private entries: JournalEntry[] = [];
  private corruptLines = 0;
  private replaying: Promise<number> | undefined;
  /** The file holds exactly `entries`: false after a failed write, until a rewrite goes through. */
  private inSync = true;
  /** Results appended while the file could not be written: a restart now loses them. */
  private unsavedCount = 0;
  /** The file's size as this process last read or wrote it. */
  private bytesOnDisk = 0;

  constructor(
    private readonly disk: LocalDisk,
    nodeId: string,
    private readonly log: Logger,
    /** Told of a result dropped for good (HELD_MAX), for the lost-results counter. */
    private readonly onDropped: () => void = () => undefined,
  ) {
    this.file = path.join(disk.dir, `journal-${nodeId}.jsonl`);
    this.load();
    disk.holds(this);
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.error({ file: this.file, err: error }, 'Cannot read the journal: its results stay unrecorded until it can be read and the sidecar restarts');
      return;
    }
    this.bytesOnDisk = Buffer.byteLength(text);
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as JournalEntry;
        if (typeof entry.attemptId === 'string' && entry.outcome && typeof entry.atMs === 'number') this.entries.push(entry);
        else this.corruptLines += 1;
      } catch {
        // A crash in the middle of an append leaves a partial last line; skip it.
        this.corruptLines += 1;
      }
    }
    if (this.corruptLines > 0) this.log.warn({ file: this.file, lines: this.corruptLines }, 'Skipped unreadable journal lines');
    // A crash in the middle of an append leaves a last line without its newline: the
    // next append would continue that line and be lost at the next load. Rewrite the
    // file with the readable entries before anything is appended.
    if (this.corruptLines > 0 || (text.length > 0 && !text.endsWith('\n'))) this.rewrite();
    if (this.entries.length > 0) this.log.info({ file: this.file, pending: this.entries.length }, 'Journal has results not yet written to Redis');
  }

  get pending(): number {
    return this.entries.length;
  }

  /** Results held only in memory (the file could not take them): lost by a restart. */
  get unsaved(): number {
    return this.unsavedCount;
  }

  get held(): boolean {
    return !this.inSync;
  }

  has(attemptId: string): boolean {
    return this.entries.some((e) => e.attemptId === attemptId);
  }

  snapshot(): readonly JournalEntry[] {
    return [...this.entries];
  }

  /** Appends (fsync'ed) when the disk takes it; holds the result in memory otherwise. Never throws. */
  append(entry: JournalEntry): void {
    this.entries.push(entry);
    const written = this.inSync ? this.disk.write('journal', () => this.appendOrRewrite(entry)) : this.rewrite();
    if (written) return;
    this.inSync = false;
    this.unsavedCount += 1;
    this.log.warn(
      { attemptId: entry.attemptId, held: this.unsavedCount },
      'Journal not written: the result is held in memory until Redis or the disk returns (a restart now loses it)',
    );
    if (this.entries.length <= HELD_MAX) return;
    const dropped = this.entries.shift();
    this.unsavedCount = Math.min(this.unsavedCount, this.entries.length);
    this.log.error(
      { attemptId: dropped?.attemptId, heldMax: HELD_MAX },
      'Too many results held in memory: dropped the oldest, it is lost and will never be recorded',
    );
    this.onDropped();
  }

  flush(): void {
    if (!this.inSync) this.rewrite();
  }

  /**
   * Appends the line when the file is the one this process wrote (its size as written);
   * otherwise — removed, truncated, replaced — writes every entry held, so an append
   * never leaves a file that holds only the newest result.
   */
  private appendOrRewrite(entry: JournalEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    if (fileSize(this.file) === this.bytesOnDisk) {
      appendLine(this.file, line);
      this.bytesOnDisk += Buffer.byteLength(line);
      return;
    }
    this.log.warn({ file: this.file }, 'The journal file is not the one this process wrote (removed or changed): writing every held result again');
    this.writeAll();
  }

  private writeAll(): void {
    const text = this.entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    writeFileAtomic(this.file, text, 0o600);
    this.bytesOnDisk = Buffer.byteLength(text);
  }

  lost(): void {
    this.inSync = false;
  }

  /**
   * Drops one entry (recorded in Redis by its own write, not by a replay) and writes the
   * file without it, best effort: a line left behind is replayed later, which the
   * attempt id makes harmless.
   */
  drop(entry: JournalEntry): void {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e !== entry);
    if (this.entries.length === before) return;
    this.unsavedCount = Math.min(this.unsavedCount, this.entries.length);
    this.rewrite();
  }

  /**
   * Replays every entry in order through `record`; entries are dropped from the file
   * only after all of them were recorded. Returns the number replayed. Throws what
   * `record` throws (Redis went away again); the journal is then left as it was.
   * One replay at a time: a call while one runs waits for it, then replays what is
   * left (entries appended meanwhile included).
   */
  async replay(record: (entry: JournalEntry) => Promise<void>, skip?: JournalEntry): Promise<number> {
    // Checked and set with no await between, so two waiters cannot both start.
    while (this.replaying) await this.replaying.catch(() => undefined);
    const run = this.replayOnce(record, skip);
    this.replaying = run;
    try {
      return await run;
    } finally {
      // Only this run's mark: a waiter may already have started the next one.
      if (this.replaying === run) this.replaying = undefined;
    }
  }

  private async replayOnce(record: (entry: JournalEntry) => Promise<void>, skip?: JournalEntry): Promise<number> {
    const batch = this.entries.filter((e) => e !== skip);
    if (batch.length === 0) return 0;
    for (const entry of batch) await record(entry);
    // Drop exactly what was replayed: entries appended meanwhile stay for the next one.
    const replayed = new Set(batch);
    this.entries = this.entries.filter((e) => !replayed.has(e));
    this.unsavedCount = Math.min(this.unsavedCount, this.entries.length);
    // Not written: the file keeps replayed lines until the next rewrite; replaying them again is harmless.
    this.rewrite();
    return batch.length;
  }

  /** Writes the file with exactly the entries held; true when it went through. */
  private rewrite(): boolean {
    const ok = this.disk.write('journal', () => this.writeAll());
    this.inSync = ok;
    if (ok) this.unsavedCount = 0;
    return ok;
  }
}

/** The file's size; 0 when it is not there (an append then creates it, right when nothing else was held). */
function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a', 0o600);
  try {
    writeSync(fd, line);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
