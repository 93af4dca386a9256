import type { Clock, Timer, Timers } from '../../shared/clock';
import { nextSlot } from '../../shared/heartbeat-grid';

/**
 * The agent's own timer on the node's grid: it fires for each slot a grace after the
 * slot (BullMQ gets the first chance; the timer acts when Redis is away or the schedule
 * was lost). The next slot is armed before a slot's work starts, so slow work never
 * pushes the grid back, and a slot is handed out once even if the process is late.
 */
export class SlotTimer {
  private timer: Timer | undefined;
  private running = false;
  readonly graceMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly timers: Timers,
    private readonly intervalMs: number,
    private readonly offsetMs: number,
    private readonly onSlot: (slot: number) => void,
  ) {
    this.graceMs = Math.min(30_000, Math.floor(intervalMs / 4));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm(nextSlot(this.clock.now(), this.intervalMs, this.offsetMs));
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(slot: number): void {
    if (!this.running) return;
    this.timer = this.timers.after(slot + this.graceMs - this.clock.now(), () => {
      // The next slot strictly after this one, even when the timer fired late.
      this.arm(nextSlot(Math.max(slot, this.clock.now() - this.graceMs), this.intervalMs, this.offsetMs));
      this.onSlot(slot);
    });
  }
}
