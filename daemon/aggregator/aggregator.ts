import { every, type Clock, type Timer, type Timers } from '../../shared/clock';
import type { Logger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis/connection';
import { changesStatusInputs, type ChangeEvent } from '../../shared/redis/change-events';
import { STALE_FACTOR, type ProjectView } from '../view/compute-view';
import type { ProjectViewReader } from '../view/project-view';
import type { ChangeEvents } from '../../shared/redis/change-event-subscriber';
import type { LeaderElection } from './leader-election';
import { StatusWriter, type WriteOutcome } from './status-writer';

/**
 * Combines the nodes' records into the project status (R5) and writes it, on the
 * leader only. Driven by change events (an agent recorded an attempt, register ran),
 * coalesced over a short debounce so a burst of attempts costs one read; and by a
 * periodic sweep, because some changes publish nothing: a node going stale (R6) is
 * the absence of events, and events published while the subscriber was
 * disconnected are lost.
 *
 * Writes are minimal (only when the status changes) and fenced (StatusWriter): when
 * Redis refuses one as stale, this sidecar is not the leader any more whatever it
 * believed, so it steps down.
 */
export interface AggregatorOptions {
  /** Command connection (purpose 'command'). */
  redis: RedisClient;
  events: ChangeEvents;
  election: LeaderElection;
  reader: ProjectViewReader;
  log: Logger;
  /** Coalescing window for bursts of events; default 30 ms. */
  debounceMs?: number;
  /** Safety-net sweep; default min(interval / 4, 30 s). */
  sweepMs?: number;
  /** Stamps each view's read (its age in the cluster metrics); the daemon gives monotonicClock. */
  clock: Clock;
  /** The debounce and the sweep, on the same time as `clock`. */
  timers: Timers;
  /**
   * The recovery step of this sidecar's own node (the agent's Recovery): run before any
   * status is written, so a loss of Redis data the leader notices first (at its sweep,
   * after FLUSHALL with connections open) is repaired before a verdict — a failed
   * project stays failed (R5). Resolves with what it put back (empty: nothing).
   */
  recover?: () => Promise<string[]>;
}

/**
 * After a loss of Redis data (the recovery hash says so), a member whose record is
 * still missing may be the one that holds the `failed` verdict: until every member has
 * put back what it holds — or has been silent for the stale time of R6, when it counts
 * as gone — the leader writes no status but `failed`. Nothing unknown fails a project
 * (R5), and nothing unknown un-fails one.
 */
export function awaitingRestore(view: ProjectView): boolean {
  if (view.computedStatus === 'failed' || view.recovery === null) return false;
  if (!view.unknownMembers.some((m) => m.why === 'missing')) return false;
  return view.now - view.recovery.at < STALE_FACTOR * view.intervalMs;
}

export class Aggregator {
  readonly debounceMs: number;
  readonly sweepMs: number;
  private readonly log: Logger;
  private readonly writer: StatusWriter;
  private latest: ProjectView | null = null;
  /** clock.now() when the read of `latest` started. */
  private latestReadAt: number | null = null;
  private debounce: Timer | undefined;
  private sweep: Timer | undefined;
  private running: Promise<ProjectView | null> | undefined;
  private pending = false;
  private state: 'idle' | 'running' | 'closed' = 'idle';
  private closing: Promise<void> | undefined;

  private readonly onEvent = (event: ChangeEvent): void => {
    // Our own status events would only make us read what we just wrote.
    if (changesStatusInputs(event)) this.trigger();
  };
  private readonly onElected = (): void => void this.refresh();
  private readonly onResubscribed = (): void => this.trigger();

  constructor(private readonly options: AggregatorOptions) {
    this.debounceMs = options.debounceMs ?? 30;
    this.sweepMs = options.sweepMs ?? Math.min(options.reader.policy.intervalMs / 4, 30_000);
    if (!(this.debounceMs >= 0)) throw new RangeError(`debounceMs must be at least 0, got ${this.debounceMs}`);
    if (!(this.sweepMs >= 10)) throw new RangeError(`sweepMs must be at least 10, got ${this.sweepMs}`);
    this.log = options.log.child({ part: 'aggregator' });
    this.writer = new StatusWriter(options.redis, options.reader.keys);
  }

  get reader(): ProjectViewReader {
    return this.options.reader;
  }

  get election(): LeaderElection {
    return this.options.election;
  }

  /**
   * The last view this leader computed (null before the first, or on a non-leader):
   * what its status writes are decided from, and what the cluster metrics serve.
   * Kept when a later read fails, so its age (latestViewReadAt) tells how stale it is.
   */
  get latestView(): ProjectView | null {
    return this.latest;
  }

  /** The clock's time when the read of latestView started; null without a view. */
  get latestViewReadAt(): number | null {
    return this.latest ? this.latestReadAt : null;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.options.events.on('event', this.onEvent);
    this.options.events.on('resubscribed', this.onResubscribed);
    this.options.election.on('elected', this.onElected);
    this.sweep = every(this.options.timers, this.sweepMs, () => this.trigger());
    if (this.options.election.isLeader) void this.refresh();
  }

  /**
   * Aggregates now (serialized: a call while one runs makes it run once more after).
   * Resolves with the view, or null when this sidecar is not the leader or Redis failed.
   */
  refresh(): Promise<ProjectView | null> {
    if (this.running) {
      this.pending = true;
      return this.running;
    }
    this.running = (async () => {
      let view: ProjectView | null = null;
      // Bounded: a record that always looks changed must not turn this into a hot loop;
      // the next event or sweep picks up whatever is left.
      let rounds = 0;
      do {
        this.pending = false;
        view = await this.aggregateOnce();
        rounds += 1;
      } while (this.pending && this.state === 'running' && rounds < 5);
      return view;
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closed';
      this.debounce?.cancel();
      this.sweep?.cancel();
      this.debounce = undefined;
      this.sweep = undefined;
      this.options.events.off('event', this.onEvent);
      this.options.events.off('resubscribed', this.onResubscribed);
      this.options.election.off('elected', this.onElected);
      try {
        await this.running;
      } catch {
        /* logged where it happened */
      }
    })();
    return this.closing;
  }

  private trigger(): void {
    if (this.state !== 'running' || this.debounce) return;
    this.debounce = this.options.timers.after(this.debounceMs, () => {
      this.debounce = undefined;
      void this.refresh();
    });
  }

  private async aggregateOnce(): Promise<ProjectView | null> {
    const { election, reader } = this.options;
    if (this.state !== 'running' || !election.isLeader) {
      this.latest = null;
      return null;
    }
    // The epoch is taken before the read: the write must prove the lease this view was read under.
    const epoch = election.epoch as number;
    const readAt = this.options.clock.now();
    let view: ProjectView;
    try {
      view = await reader.read();
    } catch (error) {
      this.log.warn({ err: error }, 'Could not read the cluster');
      return null;
    }
    this.latest = view;
    this.latestReadAt = readAt;
    const stored = view.stored?.status ?? null;
    // Sticky: nothing the nodes say replaces a stored `failed`; only register clears it.
    if (stored === 'failed' || stored === view.computedStatus) return view;
    if (awaitingRestore(view)) {
      this.log.debug(
        { missing: view.unknownMembers.map((m) => m.id) },
        'Redis lost data: waiting for the members to put back what they hold before writing the status',
      );
      return view;
    }

    let outcome: WriteOutcome;
    try {
      // A loss of data shows here as a status to change: put back what this node holds first, then read again.
      const restored = (await this.options.recover?.()) ?? [];
      if (restored.length > 0) {
        this.log.warn({ restored }, 'Redis had lost project data: restored before writing the project status; reading again');
        this.pending = true;
        return view;
      }
      outcome = await this.writer.writeStatus({
        instance: election.instance,
        epoch,
        status: view.computedStatus,
        generation: view.generation,
        registration: view.registration ?? '',
      });
    } catch (error) {
      this.log.warn({ err: error }, 'Could not write the project status');
      return view;
    }
    switch (outcome) {
      case 'written':
        this.log.info({ from: stored, to: view.computedStatus, epoch }, 'Project status changed');
        break;
      case 'fenced':
        this.log.warn({ epoch, status: view.computedStatus }, 'Redis refused a stale leader write');
        election.stepDown('fenced', epoch);
        this.latest = null;
        return null;
      case 'stale-view':
        // register ran between the read and the write: read again.
        this.pending = true;
        break;
      case 'no-credential':
        // Not registered, or lost and not put back (this node held no credential): nothing to write a status about.
        break;
      case 'sticky-failed':
      case 'unchanged':
        break;
    }
    return view;
  }
}
