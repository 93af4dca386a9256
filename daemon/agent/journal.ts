import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Outcome } from '../protocol/classify';
import { writeFileAtomic } from '../../shared/fs-atomic';

/**
 * The local journal of SPEC §4. While Redis is unreachable the agent still
 * authenticates on time and appends every result here, one JSON line per attempt,
 * fsync'ed before the attempt is considered done. When Redis returns the lines are
 * replayed in order through the same idempotent recording, then the file is emptied
 * with an atomic rename. A crash mid-replay only means some lines are replayed again,
 * which the attempt id makes harmless. The file survives a restart of the sidecar.
 */

export interface JournalEntry {
  nodeId: string;
  attemptId: string;
  outcome: Outcome;
  generation: number;
  /** Estimated Redis time of the attempt (local clock + last known Redis offset). */
  atMs: number;
  /** lastAttemptAt of the node's record as the node held it when the attempt began (record-attempt-7.lua, "Time"). */
  madeAfter?: number;
}

export class Journal {
  readonly file: string;
  private entries: JournalEntry[] = [];
  private corruptLines = 0;
  private replaying: Promise<number> | undefined;

  constructor(
    dir: string,
    nodeId: string,
    private readonly log: Logger,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, `journal-${nodeId}.jsonl`);
    this.load();
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    const text = readFileSync(this.file, 'utf8');
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

  has(attemptId: string): boolean {
    return this.entries.some((e) => e.attemptId === attemptId);
  }

  snapshot(): readonly JournalEntry[] {
    return [...this.entries];
  }

  append(entry: JournalEntry): void {
    const fd = openSync(this.file, 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.entries.push(entry);
  }

  /**
   * Replays every entry in order through `record`; entries are dropped from the file
   * only after all of them were recorded. Returns the number replayed. Throws what
   * `record` throws (Redis went away again); the journal is then left as it was.
   * One replay at a time: a call while one runs waits for it, then replays what is
   * left (entries appended meanwhile included).
   */
  async replay(record: (entry: JournalEntry) => Promise<void>): Promise<number> {
    // Checked and set with no await between, so two waiters cannot both start.
    while (this.replaying) await this.replaying.catch(() => undefined);
    const run = this.replayOnce(record);
    this.replaying = run;
    try {
      return await run;
    } finally {
      // Only this run's mark: a waiter may already have started the next one.
      if (this.replaying === run) this.replaying = undefined;
    }
  }

  private async replayOnce(record: (entry: JournalEntry) => Promise<void>): Promise<number> {
    const batch = [...this.entries];
    for (const entry of batch) await record(entry);
    // Drop exactly what was replayed: entries appended meanwhile stay for the next one.
    const replayed = new Set(batch);
    this.entries = this.entries.filter((e) => !replayed.has(e));
    this.rewrite();
    return batch.length;
  }

  private rewrite(): void {
    writeFileAtomic(this.file, this.entries.map((e) => `${JSON.stringify(e)}\n`).join(''), 0o600);
  }
}
