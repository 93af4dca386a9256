import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { systemTimers, type Timers } from '../../shared/clock';
import type { ChangeEvent } from '../../shared/redis/change-events';
import type { AttemptFlow } from './attempt-flow';
import { buildAgentParts, type AgentPartsOptions } from './agent-parts';
import { isRecorded, noteVerdict, readLastAttempt } from './attempt-plan';
import { catchUpDue, logJobFailure, type HeartbeatScheduler, type ScheduledAttempt } from './heartbeat-scheduler';
import { boundedStep, InFlight, withTimeout } from './in-flight';
import type { LocalState } from './local-state';
import type { LocalDisk } from './local-disk';
import type { ResultSink } from './result-sink';
import { slotAttemptId } from './schedule';

/**
 * The node agent (SPEC R1-R5, §4), a coordinator of its parts: the heartbeat scheduler
 * (BullMQ and the slot timer on one grid), the attempt flow and its runner, the result
 * sink (Redis or journal, and replay) and recovery after a loss of Redis data. Every result
 * goes through the idempotent recording keyed on the attempt id, so retries, stalled
 * re-runs, duplicate replicas and replays never count an attempt twice.
 */

export type AgentState = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'STOPPED';

export interface AgentOptions extends AgentPartsOptions {
  /** Timers on the same time as `clock` (default: the system's). */
  timers?: Timers;
  logger: Logger;
  /** How long close() lets a running attempt finish before abandoning it. */
  closeGraceMs?: number;
}

export class Agent {
  private state: AgentState = 'INITIALIZED';
  private readonly log: Logger;
  private readonly timers: Timers;
  /** journal.dir: every local write goes through it (SPEC §4, the node's disk as a fault domain). */
  readonly disk: LocalDisk;
  private readonly local: LocalState;
  private readonly sink: ResultSink;
  private readonly flow: AttemptFlow;
  private readonly scheduler: HeartbeatScheduler;
  private readonly inFlight: InFlight;
  private readonly abort = new AbortController();
  private syncing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** BullMQ reports every failed reconnect; one line per outage is enough. */
  private redisErrorLogged = false;
  private readonly onReady = () => {
    this.redisErrorLogged = false;
    void this.sync('reconnected');
  };
  private readonly onRedisDown = () => this.scheduler.markNotInPlace();
  /** Redis lost data (Recovery put back what this node holds): the schedule and the published key ids went with it. */
  private readonly onDataLost = () => {
    this.flow.keyIdsLost();
    this.scheduler.markNotInPlace();
  };

  constructor(private readonly o: AgentOptions) {
    this.log = o.logger.child({ part: 'agent', node: o.config.node.id });
    this.timers = o.timers ?? systemTimers;
    this.inFlight = new InFlight(this.timers);
    const parts = buildAgentParts(o, this.log, this.timers, { onDataLost: this.onDataLost, signal: this.abort.signal });
    this.disk = parts.disk;
    this.local = parts.local;
    this.sink = parts.sink;
    this.flow = parts.flow;
    this.scheduler = parts.scheduler;
  }

  get journalPending(): number {
    return this.sink.pending;
  }

  /** Ready: Redis reachable and the node's schedule in place (GET /readyz). */
  get ready(): boolean {
    return this.state === 'RUNNING' && this.o.redis.status === 'ready' && this.scheduler.inPlace;
  }

  get status(): AgentState {
    return this.state;
  }

  private setState(next: AgentState): void {
    this.log.info({ from: this.state, to: next }, 'Agent state changed');
    this.state = next;
  }

  async start(): Promise<void> {
    if (this.state !== 'INITIALIZED') throw new Error(`agent cannot start from state ${this.state}`);
    this.scheduler.start({
      job: (attempt) => this.onJob(attempt),
      slot: (slot) => void this.inFlight.track(this.onSlot(slot)).catch((error: unknown) => this.log.warn({ err: error, slot }, 'Heartbeat slot failed')),
      error: (source, error) => {
        if (this.redisErrorLogged) return;
        this.redisErrorLogged = true;
        this.log.warn({ source, err: error }, 'BullMQ lost Redis; the local timer covers heartbeats until it returns');
      },
      failed: (attempt, error, tries) => logJobFailure(this.log, attempt, error, tries),
    });
    this.o.redis.on('ready', this.onReady);
    this.o.redis.on('end', this.onRedisDown);
    this.o.redis.on('close', this.onRedisDown);
    this.setState('RUNNING');
    if (this.o.redis.status === 'ready') await this.sync('start');
    else this.localCatchUpIfDue();
    this.scheduler.startTimer();
  }

  /**
   * Whenever Redis becomes reachable: recover what Redis lost, replay (so the catch-up
   * check sees the journaled attempts), put the schedule in place (again: Redis may have
   * lost it), then authenticate at once if the last attempt is over an interval old.
   */
  private sync(why: string): Promise<void> {
    if (this.state !== 'RUNNING') return Promise.resolve();
    this.syncing ??= (async () => {
      try {
        await this.flow.catchUpWithRedis();
        // Redis may have lost them, or the key files changed while it was away.
        await this.flow.publishKeyIds(true);
        await this.scheduler.ensure();
        await this.catchUpIfDue();
        this.log.info({ why }, 'Synchronised with Redis');
      } catch (error) {
        this.log.warn({ err: error, why }, 'Could not synchronise with Redis; will retry when it returns');
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  /** R1: at start, a node whose last attempt is older than one interval authenticates at once. */
  private async catchUpIfDue(): Promise<void> {
    const last = await readLastAttempt(this.o.redis, this.o.keys, this.o.config.node.id);
    this.local.update({ redisClockOffsetMs: last.redisNow - this.o.clock.now() });
    if (!catchUpDue(last.lastAttemptAt, last.redisNow, this.o.config.heartbeat.intervalMs)) return;
    const jobId = await this.scheduler.catchUp(last.lastAttemptId);
    this.log.info({ jobId }, 'Last attempt is older than one interval: authenticating now');
  }

  /** The same rule while Redis is away at start, judged from the local state; not awaited (an attempt may take minutes). */
  private localCatchUpIfDue(): void {
    const s = this.local.get();
    if (!catchUpDue(s.lastAttemptAt, this.o.clock.now() + s.redisClockOffsetMs, this.o.config.heartbeat.intervalMs)) return;
    void this.inFlight
      .track(this.flow.offline(`catchup-local-${randomUUID()}`))
      .catch((error: unknown) => this.log.warn({ err: error }, 'Catch-up attempt failed'));
  }

  /** The agent's reactions to the project's change events (table in change-events.ts); never rejects, a failure is logged. */
  async hear(event: ChangeEvent): Promise<void> {
    // Every node keeps the failed verdict it saw, to restore it should Redis lose it (R5).
    if (event.type === 'status' && event.status === 'failed')
      await this.noteVerdict().catch((error: unknown) => this.log.warn({ err: error }, 'Could not read the failed verdict'));
    if (event.type === 'registered')
      await this.authenticateNow(`registered-${event.registration}`).catch((error: unknown) =>
        this.log.warn({ err: error }, 'Could not queue the attempt after registration'),
      );
  }

  /** The recovery step, for the leader before it writes a status (what was put back; empty when nothing was lost). */
  recover(): Promise<string[]> {
    return this.flow.recover();
  }

  /** Keeps the `failed` verdict the leader wrote, to restore it after a loss (on every `failed` status event). */
  async noteVerdict(): Promise<void> {
    await noteVerdict(this.o.redis, this.o.keys, this.local);
  }

  /** Makes every live node authenticate at once after `register` (the job id dedupes replicas). */
  async authenticateNow(reason: string): Promise<void> {
    await this.scheduler.addNow(reason.replace(/[^A-Za-z0-9_-]/g, '_'));
  }

  /**
   * The slot timer, a grace after each slot. One question to Redis — was this slot
   * recorded? — serves as the health check too (bounded to 1 s: a paused Redis keeps
   * the socket open). No answer: authenticate from the journal. An answer: sync a Redis
   * that came back without a reconnect, and make sure the heartbeat did not stop
   * silently — if BullMQ neither ran nor holds the slot, authenticate now and put
   * the schedule back.
   */
  private async onSlot(slot: number): Promise<void> {
    const attemptId = slotAttemptId(slot);
    let recorded: boolean;
    try {
      recorded = await withTimeout(isRecorded(this.o.redis, this.o.keys, this.o.config.node.id, attemptId), 1000, this.timers);
    } catch {
      if ((this.local.get().lastSlot ?? 0) >= slot) return;
      this.local.update({ lastSlot: slot });
      this.log.warn({ slot }, 'Redis unreachable at heartbeat time: authenticating from the local journal');
      return this.flow.offline(attemptId);
    }
    if (this.sink.pending > 0 || !this.scheduler.inPlace) await this.sync('Redis answers again');
    if (recorded || this.sink.journaled(attemptId)) return;
    try {
      if (await this.scheduler.knowsSlot(slot)) return;
      this.log.warn({ slot }, 'The schedule missed a heartbeat slot: authenticating now and restoring the schedule');
      await this.scheduler.ensure();
      await this.flow.online(attemptId);
    } catch (error) {
      this.log.warn({ err: error, slot }, 'Could not check the heartbeat slot');
    }
  }

  private async onJob({ attemptId }: ScheduledAttempt): Promise<void> {
    if (this.sink.journaled(attemptId)) return; // made while Redis was away; the replay records it
    await this.inFlight.track(this.flow.online(attemptId));
  }

  /**
   * Stops taking attempts, lets a running one finish (up to closeGraceMs), then abandons
   * it unrecorded — BullMQ retries the job (or re-runs it once stalled) under the same
   * id, so it is still counted once. Idempotent: a second call waits for the first.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.state === 'RUNNING') this.setState('STOPPING');
      this.scheduler.stopTimer();
      this.o.redis.off('ready', this.onReady);
      this.o.redis.off('end', this.onRedisDown);
      this.o.redis.off('close', this.onRedisDown);
      if (!(await this.inFlight.settledWithin(this.o.closeGraceMs ?? 10_000))) {
        this.abort.abort();
        await this.inFlight.settledWithin(2000);
      }
      // With Redis away BullMQ cannot hand its lock back: closing by force leaves at most one job to re-run (same id).
      const force = this.o.redis.status !== 'ready';
      await boundedStep(this.log, 'worker', () => this.scheduler.closeWorker(force), 5000, this.timers);
      await boundedStep(this.log, 'queue', () => this.scheduler.closeQueue(), 2000, this.timers);
      this.disk.close();
      this.sink.reportUnsavedAtStop();
      this.setState('STOPPED');
    })();
    return this.closing;
  }
}
