import { randomUUID } from 'node:crypto';
import type { Job, JobsOptions, Queue as QueueType, Worker as WorkerType } from 'bullmq';
import type { Logger } from 'pino';
import { closeRedis, createRedis, type RedisClient } from '../../shared/redis/connection';
import type { Clock, Timers } from '../../shared/clock';
import type { Config } from '../../shared/config/compile';
import { slotAtOrBefore } from '../../shared/heartbeat-grid';
import { queueName, SCHEDULER_ID, slotAttemptId } from './schedule';
import { SlotTimer } from './slot-timer';
import { AttemptAbandoned } from './attempt-runner';

/*
 * BullMQ's Queue and Worker from their own files, not from its index: the index loads
 * every class BullMQ has (flows, the PostgreSQL and relay backends, sandboxed
 * processors, other Redis clients' adapters): 70 module files more and about 1.3 MiB of
 * an idle sidecar (issue 31). Pinned to BullMQ's CommonJS layout like the rest of
 * what is relied on in it (test/agent/bullmq-contract.test.ts loads these paths).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- the index's types, the classes' own files */
const { Queue } = require('bullmq/dist/cjs/classes/queue') as { Queue: typeof QueueType };
const { Worker } = require('bullmq/dist/cjs/classes/worker') as { Worker: typeof WorkerType };
/* eslint-enable @typescript-eslint/no-require-imports */
type Queue = QueueType;
type Worker = WorkerType;

/**
 * The node's heartbeat (SPEC R1) on its grid, from two sources: BullMQ — one queue per
 * node, one job scheduler on it (`every` + `offset`), a worker that hands each job to
 * the agent as an attempt — and the agent's own slot timer on the same grid, which acts
 * when Redis is away or the schedule was lost. A restart or a second replica of a node
 * id upserts the same scheduler, so there is never a second schedule.
 *
 * What is relied on in BullMQ is pinned by test/agent/bullmq-contract.test.ts: a job
 * the scheduler made carries the scheduler's id as `repeatJobKey`, and its scheduled
 * time as `timestamp + opts.delay`, unchanged by retries and stalled re-runs. The slot
 * comes from that time, never from the job id's format.
 */

export interface ScheduledAttempt {
  attemptId: string;
  /** The grid slot for a scheduled attempt, null for the others (catch-up, after register). */
  slot: number | null;
}

export interface HeartbeatSchedulerOptions {
  clock: Clock;
  timers: Timers;
  nodeId: string;
  bullPrefix: string;
  /** A connection for BullMQ (maxRetriesPerRequest null). */
  connection: RedisClient;
  intervalMs: number;
  offsetMs: number;
}

/** The attempt a job stands for. Same job (retried, re-run after a stall): same attempt. */
export function attemptOfJob(job: Pick<Job, 'id' | 'repeatJobKey' | 'timestamp' | 'opts'>, intervalMs: number, offsetMs: number): ScheduledAttempt {
  if (job.repeatJobKey === SCHEDULER_ID) {
    // On the grid by construction; snapped down only for a job BullMQ had to run late
    // at creation (delay clamped to 0), so it still names a slot of the grid.
    const slot = slotAtOrBefore(job.timestamp + (job.opts.delay ?? 0), intervalMs, offsetMs);
    return { attemptId: slotAttemptId(slot), slot };
  }
  return { attemptId: job.id ?? `job-${randomUUID()}`, slot: null };
}

/** R1: due when the node has no attempt, or its last one is an interval old. */
export function catchUpDue(lastAttemptAt: number | null, now: number, intervalMs: number): boolean {
  return lastAttemptAt === null || now - lastAttemptAt >= intervalMs;
}

/** Replicas of one node id read the same last attempt id, so they add one job. */
export function catchUpJobId(lastAttemptId: string | null): string {
  return `catchup-${(lastAttemptId ?? 'none').replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/**
 * Every failed try of a job is logged: a job failing in silence is how a node stops
 * counting unnoticed. One abandoned by shutdown is expected and runs again.
 */
export function logJobFailure(log: Logger, { attemptId }: ScheduledAttempt, error: Error, tries: { made: number; allowed: number }): void {
  const fields = { attemptId, err: error, tries: tries.made, allowed: tries.allowed };
  if (error instanceof AttemptAbandoned) return void log.info(fields, 'Heartbeat job left for BullMQ to run again after the restart');
  log.warn(
    fields,
    tries.made < tries.allowed
      ? 'Heartbeat job failed; BullMQ tries it again under the same attempt id'
      : 'Heartbeat job failed and has no tries left: the slot counts as missed',
  );
}

export interface HeartbeatHandlers {
  /** A job BullMQ hands out; throwing leaves it to BullMQ to retry under the same id. */
  job(attempt: ScheduledAttempt): Promise<void>;
  /** The slot timer, a grace after each slot. */
  slot(slot: number): void;
  /** BullMQ lost Redis (reported on every failed reconnect). */
  error(source: string, error: Error): void;
  /** A job's try threw: BullMQ retries it (same attempt id) until its tries run out. */
  failed(attempt: ScheduledAttempt, error: Error, tries: { made: number; allowed: number }): void;
}

export class HeartbeatScheduler {
  private queue: Queue | undefined;
  private worker: Worker | undefined;
  private timer: SlotTimer | undefined;
  private placed = false;

  constructor(private readonly o: HeartbeatSchedulerOptions) {}

  /** Starts BullMQ's queue and worker; the slot timer starts with startTimer(). */
  start(handlers: HeartbeatHandlers): void {
    const { nodeId, bullPrefix, connection, intervalMs, offsetMs, clock, timers } = this.o;
    const lockDuration = Math.min(30_000, Math.max(5_000, Math.floor(intervalMs / 2)));
    this.timer = new SlotTimer(clock, timers, intervalMs, offsetMs, (slot) => handlers.slot(slot));
    this.queue = new Queue(queueName(nodeId), { connection, prefix: bullPrefix });
    this.queue.on('error', (error) => handlers.error('queue', error));
    this.worker = new Worker(queueName(nodeId), (job) => handlers.job(attemptOfJob(job, intervalMs, offsetMs)), {
      connection,
      prefix: bullPrefix,
      concurrency: 1,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: 5,
    });
    this.worker.on('error', (error) => handlers.error('worker', error));
    this.worker.on('failed', (job, error) => {
      if (job) handlers.failed(attemptOfJob(job, intervalMs, offsetMs), error, { made: job.attemptsMade, allowed: job.opts.attempts ?? 1 });
    });
  }

  /** The job scheduler was put in place since Redis last dropped or lost data (GET /readyz). */
  get inPlace(): boolean {
    return this.placed;
  }

  /** Redis dropped, or lost data: the job scheduler may be gone until ensure() puts it back. */
  markNotInPlace(): void {
    this.placed = false;
  }

  startTimer(): void {
    this.timer?.start();
  }

  stopTimer(): void {
    this.timer?.stop();
  }

  async ensure(): Promise<void> {
    if (!this.queue) return;
    const { intervalMs, offsetMs } = this.o;
    await this.queue.upsertJobScheduler(
      SCHEDULER_ID,
      { every: intervalMs, offset: offsetMs },
      { name: 'heartbeat', data: {}, opts: jobOptions(2 * intervalMs) },
    );
    this.placed = true;
  }

  /**
   * Adds the catch-up job. BullMQ keeps a finished job for two intervals and ignores an
   * add under its id: a node without a record (after unbind) reuses `catchup-none`, so
   * a finished one is removed first. One still waiting or running (a replica's) is left
   * to run once.
   */
  async catchUp(lastAttemptId: string | null): Promise<string> {
    const jobId = catchUpJobId(lastAttemptId);
    const finished = await this.queue?.getJob(jobId);
    if (finished && ['completed', 'failed'].includes(await finished.getState())) await finished.remove();
    await this.queue?.add('heartbeat', {}, { jobId, ...jobOptions(2 * this.o.intervalMs) });
    return jobId;
  }

  /** An attempt at once under `jobId` (dedupes replicas), e.g. after `register`. */
  async addNow(jobId: string): Promise<void> {
    await this.queue?.add('heartbeat', {}, { jobId, ...jobOptions(Math.max(3_600_000, 2 * this.o.intervalMs)) });
  }

  /**
   * True when BullMQ has the slot's job: due, waiting for a retry, running, or finished
   * (kept two intervals) — finished without a record when the attempt was skipped (a
   * failed project, say), which is no missed slot. The newest few jobs of each state
   * are enough: a node's queue holds one slot's job at a time, plus catch-ups.
   */
  async knowsSlot(slot: number): Promise<boolean> {
    const jobs = (await this.queue?.getJobs(['active', 'wait', 'delayed', 'prioritized', 'completed', 'failed'], 0, 9)) ?? [];
    return jobs.some((job) => job && attemptOfJob(job, this.o.intervalMs, this.o.offsetMs).slot === slot);
  }

  /** With Redis away BullMQ cannot hand its lock back: `force` leaves at most one job to re-run (same id) once its lock expires. */
  async closeWorker(force: boolean): Promise<void> {
    await this.worker?.close(force);
  }

  async closeQueue(): Promise<void> {
    await this.queue?.close();
  }
}

/**
 * Drops a node's job scheduler without its agent running (`fdl-cloudauth unbind`, through
 * credentials/unbind-node.ts): on a connection and a queue of its own, closed again, so
 * no leftover job binds the unbound node again.
 */
export async function removeNodeSchedule(redisConfig: Config['redis'], bullPrefix: string, nodeId: string): Promise<void> {
  const connection = createRedis(redisConfig, { purpose: 'bullmq', connectionName: 'fdl-cloudauth-unbind-queue' });
  const queue = new Queue(queueName(nodeId), { connection, prefix: bullPrefix });
  try {
    await queue.removeJobScheduler(SCHEDULER_ID);
  } finally {
    await queue.close();
    await closeRedis(connection);
  }
}

/**
 * Completed jobs are kept for `keepMs` so a second replica adding the same job id finds
 * it and adds nothing. A job that throws (an attempt abandoned by shutdown) is retried
 * with the same id, hence the same attempt id.
 */
function jobOptions(keepMs: number): JobsOptions {
  return {
    attempts: 3,
    backoff: { type: 'fixed', delay: 1000 },
    removeOnComplete: { age: Math.ceil(keepMs / 1000), count: 1000 },
    removeOnFail: { age: 7 * 86_400, count: 1000 },
  };
}
