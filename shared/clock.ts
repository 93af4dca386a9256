import { performance } from 'node:perf_hooks';

/**
 * Time is injected everywhere a rule or a wait depends on it (24 h slot release, stale
 * nodes, lockout, the leader's lease, the aggregator's sweep) so tests can move it
 * without sleeping. Each part takes a `clock` and the `timers` that run on it; the
 * daemon wires the real ones (`daemon/daemon.ts`), tests the one fake clock of
 * harness/fake-clock.ts for both.
 */
export interface Clock {
  /** Milliseconds: since the epoch (systemClock), or from any origin (monotonicClock). */
  now(): number;
}

/** Wall time: for what is compared with other machines or stored (slots, journal times). */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/**
 * Time that never steps back (NTP, an operator's `date`): for deadlines and ages inside
 * one process — a wall clock set back would stretch a leader's lease. Node's timers run
 * on it too, so systemTimers keep to it.
 */
export const monotonicClock: Clock = Object.freeze({ now: () => performance.now() });

/** A clock offset from another one: the authorization server uses it for admin-set skew. */
export class OffsetClock implements Clock {
  offsetMs = 0;
  constructor(private readonly base: Clock = systemClock) {}
  now(): number {
    return this.base.now() + this.offsetMs;
  }
}

/** A pending timer; cancel() is a no-op once it fired. */
export interface Timer {
  cancel(): void;
}

/**
 * Timers are injected beside the clock wherever a decision waits (the agent's slot
 * timer, its close grace, the backoff between tries; the leader's renew and watchdog,
 * the aggregator's debounce and sweep, the reachability probe), so tests move time
 * instead of sleeping. Production timers never keep the process alive on their own.
 */
export interface Timers {
  after(ms: number, fn: () => void): Timer;
}

export const systemTimers: Timers = Object.freeze({
  after(ms: number, fn: () => void): Timer {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
});

/**
 * Calls `fn` every `ms` on `timers` until cancelled: each call arms the next, so a fake
 * clock fires it once per period it moves over, like setInterval on real time.
 */
export function every(timers: Timers, ms: number, fn: () => void): Timer {
  let current: Timer;
  let cancelled = false;
  const arm = (): void => {
    current = timers.after(ms, () => {
      if (cancelled) return;
      arm();
      fn();
    });
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      current.cancel();
    },
  };
}

/** Resolves after `ms` on `timers`, or at once when `signal` aborts; nothing outlives it. */
export function sleepOn(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      timer.cancel();
      resolve();
    };
    const timer = timers.after(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
