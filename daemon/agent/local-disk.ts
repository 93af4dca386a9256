import { accessSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Timer, Timers } from '../../shared/clock';
import { LOCAL_WRITE_OPS, type LocalWriteOp } from '../metrics/node-metrics';

/**
 * The node's own disk (`journal.dir`) as a fault domain (SPEC §4). Every write of the
 * local state — the journal, the state file — goes through `write()`, which never
 * throws: a failed write is counted by `op`, logged when the disk turns unwritable and
 * again when it recovers, and reported by `/readyz`, `doctor` and the metrics. Callers
 * keep what they failed to write in memory; `retry()` writes it again, on a timer that
 * runs only while something is wrong (a healthy disk is checked by the writes themselves,
 * at every attempt). A removed directory (a tmp cleaner, a lost volume) is created again,
 * mode 0700, when it can be.
 */

/** The local writes, each counted by its `op` (the label set is the metric's, metrics/node-metrics.ts). */
export type { LocalWriteOp };

export interface LocalDiskProblem {
  dir: string;
  op: LocalWriteOp;
  /** The error code (ENOSPC, EROFS, EACCES, ENOENT…), or 'error'. */
  code: string;
  message: string;
}

/** Something that holds writes back while the disk refuses them; `flush()` tries them again. */
export interface LocalWriter {
  /** Something is held back (a write failed). */
  readonly held: boolean;
  flush(): void;
  /** The directory was created again: what was written before is gone, write it all at the next flush. */
  lost(): void;
}

/** Bytes of the probe file: enough to need a block, so a full disk shows. */
const PROBE_BYTES = 4096;

/** A quarter interval, 1 s to 30 s: how often refused writes are tried again. */
export function retryPeriodMs(intervalMs: number): number {
  return Math.max(1000, Math.min(30_000, Math.floor(intervalMs / 4)));
}

export interface LocalDiskOptions {
  /** Told of every failed write (`fdl_cloudauth_local_state_write_errors_total`). */
  onError?(op: LocalWriteOp): void;
  /** Retries on these timers, every `retryMs`, while something is wrong; none without them. */
  timers?: Timers;
  retryMs?: number;
}

export class LocalDisk {
  private problem: LocalDiskProblem | null = null;
  private readonly errors = new Map<LocalWriteOp, number>(LOCAL_WRITE_OPS.map((op) => [op, 0]));
  private readonly writers: LocalWriter[] = [];
  private retryTimer: Timer | undefined;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly o: LocalDiskOptions = {},
  ) {
    this.ensureDir('start');
  }

  /** Stops the retries (the agent's close), after one last try to write what is held. */
  close(): void {
    this.closed = true;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.retry();
  }

  /** 1 while the last write went through (`fdl_cloudauth_local_state_writable`). */
  get writable(): boolean {
    return this.problem === null;
  }

  /** What the last failed write said, while the disk refuses writes. */
  get lastProblem(): LocalDiskProblem | null {
    return this.problem;
  }

  errorCount(op: LocalWriteOp): number {
    return this.errors.get(op) ?? 0;
  }

  /** Registers a writer for retry(). */
  holds(writer: LocalWriter): void {
    this.writers.push(writer);
  }

  /**
   * Runs one local write; true when it went through. A missing directory is created
   * again and every writer writes back all it holds (the caller's write included). Never throws: the caller keeps what it could
   * not write and is asked to flush it on the next retry().
   */
  write(op: LocalWriteOp, fn: () => void): boolean {
    try {
      try {
        fn();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync(this.dir) || !this.ensureDir(op)) throw error;
        // The directory came back empty: an append would leave a file with only its own
        // line. Every writer writes all it holds instead (the caller's new data with it,
        // since callers change memory before they write).
        for (const writer of this.writers) writer.flush();
        if (this.writers.some((w) => w.held)) throw error;
      }
    } catch (error) {
      this.failed(op, error);
      return false;
    }
    if (this.problem) {
      this.log.info({ dir: this.dir, op, was: this.problem.code }, 'The local state directory takes writes again');
      this.problem = null;
    }
    return true;
  }

  /**
   * Tries again what the writers hold back. While nothing is held: after a failure, a
   * probe file tells whether the disk takes writes again; otherwise a cheap check that
   * the directory is still there and writable, so a removed or read-only directory
   * shows before the next attempt needs it (a full disk shows at the next write).
   */
  retry(): void {
    // Removed while nothing was written: created again now, and written back just below.
    if (!this.problem && !existsSync(this.dir)) this.ensureDir('state');
    const held = this.writers.some((w) => w.held);
    for (const writer of this.writers) writer.flush();
    if (held) return;
    if (this.problem) {
      const probe = path.join(this.dir, '.write-probe');
      this.write(this.problem.op, () => {
        writeFileSync(probe, Buffer.alloc(PROBE_BYTES), { mode: 0o600 });
        rmSync(probe, { force: true });
      });
      return;
    }
    try {
      accessSync(this.dir, constants.W_OK);
    } catch (error) {
      this.failed('state', error);
    }
  }

  /** Creates the directory (mode 0700) when missing; false when it cannot. */
  private ensureDir(op: LocalWriteOp | 'start'): boolean {
    if (existsSync(this.dir)) return true;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      if (op === 'start') this.failed('state', error);
      return false;
    }
    if (op === 'start') return true;
    // Counted as a failed write of the state file: what was on disk is gone, even though the write that follows goes through.
    this.errors.set('state', this.errorCount('state') + 1);
    this.o.onError?.('state');
    this.log.warn({ dir: this.dir }, 'The local state directory was gone: created it again (mode 0700); what this process holds is written back');
    for (const writer of this.writers) writer.lost();
    return true;
  }

  private failed(op: LocalWriteOp, error: unknown): void {
    this.errors.set(op, this.errorCount(op) + 1);
    this.o.onError?.(op);
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const message = (error as Error).message ?? String(error);
    if (this.problem?.code !== code) {
      this.log.error(
        { dir: this.dir, op, code, err: message },
        'Cannot write the local state directory (journal.dir): attempts are still made and recorded in Redis; what Redis cannot take is held in memory, and lost if the sidecar restarts before Redis or the disk returns',
      );
    }
    this.problem = { dir: this.dir, op, code, message };
    this.armRetry();
  }

  private armRetry(): void {
    const { timers, retryMs } = this.o;
    if (!timers || !retryMs || this.retryTimer || this.closed) return;
    this.retryTimer = timers.after(retryMs, () => {
      this.retryTimer = undefined;
      this.retry();
      if (this.problem || this.writers.some((w) => w.held)) this.armRetry();
    });
  }
}

/** One line for /readyz and the log readers: the directory, the error, and the fix. */
export function describeDiskProblem(p: LocalDiskProblem): string {
  return `journal.dir ${p.dir} does not take writes (${p.op}: ${p.message}): free space, make it writable or point journal.dir (CLOUDAUTH_JOURNAL_DIR) elsewhere; attempts go on and are recorded in Redis meanwhile`;
}
