import { EventEmitter } from 'node:events';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { every, type Clock, type Timer, type Timers } from '../../shared/clock';
import type { Logger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import { changeEventJson, type ChangeEvent } from '../../shared/redis/change-events';
import type { ChangeEvents } from '../../shared/redis/change-event-subscriber';

/**
 * Leader election of the aggregator, one leader a project, through a Redis lease.
 *
 * Every sidecar is a candidate. Taking the lease (SET NX PX, in acquire-2.lua) also
 * increments the project's epoch counter: the epoch is the fencing token every write
 * of the leader carries, so a leader that lost its lease without knowing it (paused
 * process, slow network) has its writes refused by Redis instead of trusted.
 *
 * State machine (every change is logged):
 *
 *   idle --start--> candidate --acquired--> leader --renew refused / deadline passed / fenced--> candidate
 *   candidate|leader --close--> closing --> closed          (a leader releases the lease first)
 *
 * The leader renews every renewMs (compare-and-pexpire). Its local deadline is
 * measured on the monotonic clock from the moment the last successful renew was SENT,
 * so it always ends before the lease in Redis does; once it has passed the leader
 * steps down by itself, even if a renew is still hanging. `isLeader` checks the
 * deadline too, so a process resumed after SIGSTOP does not believe it still leads
 * before its timers had a chance to run.
 *
 * It emits `elected` (the epoch: the aggregator reads the project at once) as it
 * becomes the leader. Nothing in the sidecar needs telling when it stops (the
 * aggregator and the cluster series ask `isLeader` each time), so a step-down is one
 * log line, "Stepped down as aggregator leader" with its DemotionReason, whatever the
 * reason — a graceful close included (at info; the others warn).
 *
 * A gracefully stopping leader deletes the lease and publishes `leader-released`;
 * candidates try at once on that event, so a hand-over takes one round trip rather
 * than a lease. Otherwise candidates try every renewMs.
 *
 * The deadline, the renew period and the watchdog run on the injected clock and timers
 * (the daemon gives the monotonic clock and the system's timers); the lease's expiry in
 * Redis runs on Redis's own clock.
 */
export type ElectionState = 'idle' | 'candidate' | 'leader' | 'closing' | 'closed';
export type DemotionReason = 'lease-lost' | 'lease-expired' | 'fenced' | 'closed';

export interface LeaderElectionOptions {
  /** Command connection (purpose 'command'): fails fast while Redis is away. */
  redis: RedisClient;
  events: ChangeEvents;
  keys: ProjectKeys;
  log: Logger;
  /** This sidecar's node id, the start of the instance id. */
  nodeId: string;
  /** leader.leaseMs; default 15 s. */
  leaseMs?: number;
  /** leader.renewMs; default 5 s. */
  renewMs?: number;
  /** Defaults to `${nodeId}/${hostname}/${pid}/${random}`. */
  instance?: string;
  /** Measures the local deadline; must never step back (the daemon gives monotonicClock). */
  clock: Clock;
  /** The renew period and the watchdog, on the same time as `clock`. */
  timers: Timers;
}

const DEFAULTS = { leaseMs: 15_000, renewMs: 5_000 };

/** The epoch taken, or null when another candidate holds the lease. */
const acquireScript = new LuaScript({
  file: 'daemon/aggregator/lua/acquire-2.lua',
  keys: ['leader', 'epoch'],
  args: ['instance', 'leaseMs'],
  reply(raw, check): number | null {
    const [taken, epoch] = check.list(raw, 2);
    return check.integer(taken) === 1 ? check.numeric(epoch) : null;
  },
});
/** Whether the lease was still ours and is extended. */
const renewScript = new LuaScript({
  file: 'daemon/aggregator/lua/renew-1.lua',
  keys: ['leader'],
  args: ['holder', 'leaseMs'],
  reply: (raw, check) => check.integer(raw) === 1,
});
/** Whether the lease was ours and is given back. */
const releaseScript = new LuaScript({
  file: 'daemon/aggregator/lua/release-2.lua',
  keys: ['leader', 'events'],
  args: ['holder', 'event'],
  reply: (raw, check) => check.integer(raw) === 1,
});

export class LeaderElection extends EventEmitter {
  readonly instance: string;
  readonly leaseMs: number;
  readonly renewMs: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private stateValue: ElectionState = 'idle';
  private epochValue: number | null = null;
  private deadline = 0;
  private timer: Timer | undefined;
  private watchdog: Timer | undefined;
  private inFlight: Promise<void> | undefined;
  private tryAgain = false;
  private closing: Promise<void> | undefined;

  /** Epoch of the last lease another leader released gracefully, as published. */
  private releasedEpoch: number | undefined;

  private readonly onEvent = (event: ChangeEvent): void => {
    if (event.type === 'leader-released' && event.instance !== this.instance && this.stateValue === 'candidate') {
      this.releasedEpoch = event.epoch;
      this.log.debug({ from: event.instance, epoch: event.epoch }, 'Leader released the lease, trying to take it');
      this.kick();
    }
  };

  private readonly onResubscribed = (): void => {
    // A release published while we were disconnected was missed: look now.
    if (this.stateValue === 'candidate') this.kick();
  };

  constructor(private readonly options: LeaderElectionOptions) {
    super();
    const leaseMs = options.leaseMs ?? DEFAULTS.leaseMs;
    const renewMs = options.renewMs ?? DEFAULTS.renewMs;
    if (!Number.isFinite(leaseMs) || leaseMs < 100) throw new RangeError(`leader.lease must be at least 100ms, got ${leaseMs} ms`);
    if (!Number.isFinite(renewMs) || renewMs < 10) throw new RangeError(`leader.renew must be at least 10ms, got ${renewMs} ms`);
    // Two renews must fit in a lease, or one slow round trip costs the leadership.
    if (renewMs * 2 > leaseMs) throw new RangeError(`leader.renew (${renewMs} ms) must be at most half of leader.lease (${leaseMs} ms)`);
    if (!options.nodeId) throw new Error('LeaderElection needs the node id (node.id)');
    this.leaseMs = leaseMs;
    this.renewMs = renewMs;
    this.instance = options.instance ?? `${options.nodeId}/${os.hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
    this.clock = options.clock;
    this.timers = options.timers;
    this.log = options.log.child({ part: 'leader-election', instance: this.instance });
  }

  get state(): ElectionState {
    return this.stateValue;
  }

  /** True while this instance holds the lease and its local deadline has not passed. */
  get isLeader(): boolean {
    return this.stateValue === 'leader' && this.clock.now() < this.deadline;
  }

  /** The fencing epoch while leader, null otherwise. */
  get epoch(): number | null {
    return this.stateValue === 'leader' ? this.epochValue : null;
  }

  async start(): Promise<void> {
    if (this.stateValue !== 'idle') return;
    this.setState('candidate');
    this.options.events.on('event', this.onEvent);
    this.options.events.on('resubscribed', this.onResubscribed);
    this.timer = every(this.timers, this.renewMs, () => this.kick());
    this.kick();
    await this.settled();
  }

  /**
   * Resolves once no acquire or renew is under way (nor one queued behind it): what
   * start() and close() wait for, and what a caller that moves the clock waits for
   * before looking at the state.
   */
  async settled(): Promise<void> {
    // A step logs its own errors.
    while (this.inFlight) await this.inFlight.catch(() => undefined);
  }

  /**
   * Steps down now (the aggregator calls this when Redis refused a fenced write).
   * Safe to call when not leading. With `epoch`, only a leadership of that epoch steps
   * down: a write fenced for an epoch this instance has since lost and won back (a slow
   * read in between) says nothing about the newer leadership, which keeps its lease.
   */
  stepDown(reason: DemotionReason, epoch?: number): void {
    if (this.stateValue !== 'leader') return;
    if (epoch !== undefined && epoch !== this.epochValue) {
      this.log.info({ fencedEpoch: epoch, epoch: this.epochValue, reason }, 'Not stepping down: the refused write was of an earlier leadership');
      return;
    }
    this.demote(reason);
  }

  /** Releases the lease if held; a second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasLeader = this.stateValue === 'leader';
    const epoch = this.epochValue;
    this.setState('closing');
    this.timer?.cancel();
    this.timer = undefined;
    this.clearWatchdog();
    this.options.events.off('event', this.onEvent);
    this.options.events.off('resubscribed', this.onResubscribed);
    await this.settled();
    if (wasLeader && epoch !== null) {
      let released = false;
      try {
        released = await this.release(epoch);
      } catch (error) {
        this.log.warn({ epoch, err: error }, 'Could not release the leader lease; it expires by itself');
      }
      const reason: DemotionReason = 'closed';
      this.log.info({ epoch, reason, released }, 'Stepped down as aggregator leader');
    }
    this.setState('closed');
  }

  /** Runs one acquire-or-renew step unless one is running; a request meanwhile runs once after. */
  private kick(): void {
    if (this.stateValue !== 'candidate' && this.stateValue !== 'leader') return;
    if (this.inFlight) {
      this.tryAgain = this.stateValue === 'candidate';
      return;
    }
    this.inFlight = this.step().finally(() => {
      this.inFlight = undefined;
      if (this.tryAgain) {
        this.tryAgain = false;
        this.kick();
      }
    });
  }

  private async step(): Promise<void> {
    try {
      if (this.stateValue === 'leader') await this.renew();
      else if (this.stateValue === 'candidate') await this.tryAcquire();
    } catch (error) {
      if (this.stateValue === 'leader') {
        // Keep leading on an error only while the local deadline holds (the watchdog ends it).
        this.log.warn({ err: error, msLeft: Math.round(this.deadline - this.clock.now()) }, 'Could not renew the leader lease');
      } else {
        this.log.debug({ err: error }, 'Could not try to take the leader lease');
      }
    }
  }

  private async tryAcquire(): Promise<void> {
    const { redis, keys } = this.options;
    const sentAt = this.clock.now();
    const taken = await acquireScript.run(redis, { leader: keys.leader, epoch: keys.epoch }, { instance: this.instance, leaseMs: this.leaseMs });
    if (this.stateValue !== 'candidate') {
      // Closed while the call was on its way: give back what we may just have taken.
      if (taken !== null) await this.release(taken).catch(() => undefined);
      return;
    }
    if (taken === null) return;
    this.epochValue = taken;
    this.deadline = sentAt + this.leaseMs;
    this.armWatchdog();
    this.setState('leader');
    // Operators (and the tests) can tell a graceful hand-over from a take-over after a
    // lease expired: the epoch taken right after a published release is the next one.
    const handOver = this.releasedEpoch !== undefined && this.epochValue === this.releasedEpoch + 1;
    this.log.info({ epoch: this.epochValue, after: handOver ? 'release' : 'no-leader' }, 'Elected aggregator leader');
    this.emit('elected', this.epochValue);
  }

  private async renew(): Promise<void> {
    const { redis, keys } = this.options;
    const epoch = this.epochValue;
    if (this.clock.now() >= this.deadline) {
      this.demote('lease-expired');
      return;
    }
    const sentAt = this.clock.now();
    const renewed = await renewScript.run(redis, { leader: keys.leader }, { holder: `${this.instance}|${epoch}`, leaseMs: this.leaseMs });
    if (this.stateValue !== 'leader' || this.epochValue !== epoch) return;
    if (renewed) {
      this.deadline = sentAt + this.leaseMs;
      this.armWatchdog();
    } else {
      this.demote('lease-lost');
    }
  }

  private release(epoch: number): Promise<boolean> {
    const { redis, keys } = this.options;
    const event = changeEventJson({ type: 'leader-released', instance: this.instance, epoch });
    return releaseScript.run(redis, { leader: keys.leader, events: keys.events }, { holder: `${this.instance}|${epoch}`, event });
  }

  /** Fires at the local deadline, even while a renew hangs on a dead connection. */
  private armWatchdog(): void {
    this.clearWatchdog();
    this.watchdog = this.timers.after(Math.max(0, this.deadline - this.clock.now()), () => {
      if (this.stateValue === 'leader' && this.clock.now() >= this.deadline) this.demote('lease-expired');
      else if (this.stateValue === 'leader') this.armWatchdog();
    });
  }

  private clearWatchdog(): void {
    this.watchdog?.cancel();
    this.watchdog = undefined;
  }

  private demote(reason: DemotionReason): void {
    const epoch = this.epochValue;
    this.clearWatchdog();
    this.setState('candidate');
    this.log.warn({ epoch, reason }, 'Stepped down as aggregator leader');
    // Best effort: if the lease is still ours in Redis, free it so another candidate need not wait.
    if (epoch !== null && reason !== 'lease-lost' && reason !== 'fenced') {
      this.release(epoch).catch(() => undefined);
    }
  }

  private setState(next: ElectionState): void {
    if (next === this.stateValue) return;
    this.log.debug({ from: this.stateValue, to: next }, 'Leader election state changed');
    this.stateValue = next;
  }
}
