import type { Clock, Timer, Timers } from '../shared/clock';

/**
 * A clock and its timers that move only when a test says so: `advance(ms)` fires every
 * timer that falls due, in order, and lets the promise chains they start run before
 * the next one fires. Decisions that wait (slot timer, close grace, backoff, budget)
 * are tested with it instead of sleeping.
 */
export class FakeClock implements Clock, Timers {
  private current: number;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  after(ms: number, fn: () => void): Timer {
    const id = (this.seq += 1);
    this.pending.set(id, { at: this.current + Math.max(0, ms), fn });
    return { cancel: () => this.pending.delete(id) };
  }

  /** When the next timer is due, or null when none is pending. */
  nextDue(): number | null {
    let next: number | null = null;
    for (const t of this.pending.values()) if (next === null || t.at < next) next = t.at;
    return next;
  }

  /** Jumps to `ms` without firing anything: a process that was frozen (the due timers fire at the next advance). */
  set(ms: number): void {
    this.current = ms;
  }

  get timers(): number {
    return this.pending.size;
  }

  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.current = Math.max(this.current, due[1].at);
      due[1].fn();
      await settle();
    }
    this.current = end;
    await settle();
  }

  /**
   * Moves `ms` timer by timer and, after each, waits for `settled()`: the work that timer
   * started on real I/O (a Redis round trip) ends before the clock moves on, as if that
   * I/O took no time on this clock. Timers overdue after a set() fire first.
   */
  async advanceSettled(ms: number, settled: () => Promise<void>): Promise<void> {
    const end = this.current + ms;
    for (let next = this.nextDue(); next !== null && next <= end; next = this.nextDue()) {
      await this.advance(Math.max(0, next - this.current));
      await settled();
    }
    await this.advance(end - this.current);
  }

  /** Moves to the next pending timer and fires it (and any due with it). */
  async advanceToNext(): Promise<void> {
    const next = this.nextDue();
    if (next === null) throw new Error('no timer pending');
    await this.advance(next - this.current);
  }
}

/** Lets every promise callback queued so far (and those they queue) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
