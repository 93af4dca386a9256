import type { Logger } from 'pino';
import type { Timers } from '../../shared/clock';

/**
 * Bounded waits on injected timers: the attempts under way (shutdown lets them finish
 * within a grace), a step that must not hang a close, a question to a Redis that may be
 * paused (its socket stays open, so only a deadline tells).
 */
export class InFlight {
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly timers: Timers) {}

  track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p)).catch(() => undefined);
    return p;
  }

  /** True when everything under way settled within `ms`. */
  settledWithin(ms: number): Promise<boolean> {
    return settlesWithin(Promise.allSettled([...this.running]), ms, this.timers);
  }
}

function settlesWithin(p: Promise<unknown>, ms: number, timers: Timers): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = timers.after(ms, () => resolve(false));
    void p.then(
      () => {
        timer.cancel();
        resolve(true);
      },
      () => {
        timer.cancel();
        resolve(true);
      },
    );
  });
}

export function withTimeout<T>(p: Promise<T>, ms: number, timers: Timers): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = timers.after(ms, () => reject(new Error(`no answer within ${ms} ms`)));
    p.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error: unknown) => {
        timer.cancel();
        reject(error as Error);
      },
    );
  });
}

/** Runs a closing step for at most `ms`; a step that fails or hangs is logged and left. */
export async function boundedStep(log: Logger, part: string, step: () => Promise<unknown>, ms: number, timers: Timers): Promise<void> {
  const done = Promise.resolve()
    .then(step)
    .catch((error: unknown) => log.warn({ err: error, part }, 'Part did not close cleanly'));
  if (!(await settlesWithin(done, ms, timers))) log.warn({ part, ms }, 'Part did not close in time; leaving it');
}
