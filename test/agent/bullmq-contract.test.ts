import { Queue, Worker, type Job } from 'bullmq';
import Redis from 'ioredis';
import { Writable } from 'node:stream';
import { attemptOfJob, HeartbeatScheduler, logJobFailure } from '../../daemon/agent/heartbeat-scheduler';
import { SCHEDULER_ID, slotAttemptId } from '../../daemon/agent/schedule';
import { systemClock, systemTimers } from '../../shared/clock';
import { createLogger } from '../../shared/logger';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';

/**
 * What the agent relies on in BullMQ (6.7.0), on a real Redis, so that an upgrade that
 * changes it fails here rather than in production. A job made by a job scheduler with
 * `every` + `offset`:
 * - carries the scheduler's id as `repeatJobKey`;
 * - carries its scheduled time as `timestamp + opts.delay`, a point of the grid
 *   k × every + offset, equal to the scheduler's `next` when the job was made;
 * - keeps both through a retry (the attempt id must not change: it is the idempotency key);
 * - is followed by the next slot's job, every later, listed among the queue's jobs
 *   (`knowsSlot` reads those) while it waits and once it finished.
 * And upserting the scheduler again (a restart, a second replica) keeps one scheduler
 * and the slot already planned. Nothing here reads BullMQ's job id format. The
 * scheduler loads Queue and Worker from their own files (dist/cjs/classes/, not the
 * index, issue 31): those are the index's classes.
 */
jest.setTimeout(60_000);

const EVERY = 400;
const OFFSET = 37;
let connection: Redis;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  connection = new Redis((await startRedis()).url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  connection?.disconnect();
  await disposeAllRedis();
});

const onGrid = (ms: number): boolean => (ms - OFFSET) % EVERY === 0;

it("the scheduler's Queue and Worker, loaded from their own files, are the index's", () => {
  /* eslint-disable @typescript-eslint/no-require-imports -- the paths heartbeat-scheduler.ts loads */
  expect((require('bullmq/dist/cjs/classes/queue') as { Queue: unknown }).Queue).toBe(Queue);
  expect((require('bullmq/dist/cjs/classes/worker') as { Worker: unknown }).Worker).toBe(Worker);
  /* eslint-enable @typescript-eslint/no-require-imports */
});

it('a scheduler job names its slot by repeatJobKey and timestamp + opts.delay, through retries, on the grid', async () => {
  const prefix = testPrefix('bullc');
  const queue = new Queue('contract', { connection, prefix });
  closers.push(() => queue.close());
  const opts = { attempts: 2, backoff: { type: 'fixed' as const, delay: 10 }, removeOnComplete: { age: 60, count: 100 } };
  await queue.upsertJobScheduler(SCHEDULER_ID, { every: EVERY, offset: OFFSET }, { name: 'heartbeat', data: {}, opts });
  const planned = (await queue.getJobScheduler(SCHEDULER_ID))?.next as number;
  expect(onGrid(planned)).toBe(true);

  // Waiting for its slot, the job is listed with the scheduler's next as its time.
  const waiting = (await queue.getJobs(['active', 'wait', 'delayed', 'prioritized'])).filter(Boolean) as Job[];
  expect(waiting.map((j) => [j.repeatJobKey, j.timestamp + (j.opts.delay ?? 0)])).toEqual([[SCHEDULER_ID, planned]]);

  const seen: Array<{ id: string | undefined; key: string | undefined; at: number; attemptsMade: number }> = [];
  const worker = new Worker(
    'contract',
    async (job) => {
      seen.push({ id: job.id, key: job.repeatJobKey, at: job.timestamp + (job.opts.delay ?? 0), attemptsMade: job.attemptsMade });
      // The first run fails once: its retry must be the same attempt.
      if (seen.length === 1) throw new Error('first try fails');
    },
    { connection, prefix, concurrency: 1 },
  );
  closers.push(() => worker.close());
  await waitFor('a failed try, its retry and the next slot', () => seen.length >= 3, 30_000, 20);
  await worker.close();

  const [first, retry, next] = seen as [(typeof seen)[0], (typeof seen)[0], (typeof seen)[0]];
  expect(first).toMatchObject({ key: SCHEDULER_ID, at: planned, attemptsMade: 0 });
  expect(retry).toMatchObject({ id: first.id, key: SCHEDULER_ID, at: planned, attemptsMade: 1 });
  expect(next.key).toBe(SCHEDULER_ID);
  expect(next.at).toBeGreaterThan(planned);
  expect(onGrid(next.at)).toBe(true);
  // Finished, it is still listed (kept two intervals): a slot BullMQ ran is not a missed one.
  const finished = (await queue.getJobs(['completed'], 0, 9)).filter(Boolean) as Job[];
  expect(finished.map((j) => j.timestamp + (j.opts.delay ?? 0))).toContain(planned);
  // The agent's reading of it: the slot's attempt id, the same for the retry.
  const attempt = (at: number) => attemptOfJob({ id: 'ignored', repeatJobKey: SCHEDULER_ID, timestamp: at - 5, opts: { delay: 5 } }, EVERY, OFFSET);
  expect(attempt(planned)).toEqual({ attemptId: slotAttemptId(planned), slot: planned });
});

it('upserting the scheduler again keeps one scheduler and the slot already planned', async () => {
  const prefix = testPrefix('bullu');
  const make = () =>
    new HeartbeatScheduler({ clock: systemClock, timers: systemTimers, nodeId: 'n1', bullPrefix: prefix, connection, intervalMs: 60_000, offsetMs: 1234 });
  const a = make();
  const b = make();
  const queue = new Queue('node-n1', { connection, prefix });
  closers.push(() => queue.close());
  for (const s of [a, b]) {
    s.start({ job: async () => undefined, slot: () => undefined, error: () => undefined, failed: () => undefined });
    closers.push(() => s.closeWorker(true).then(() => s.closeQueue()));
  }
  await a.ensure();
  const planned = (await queue.getJobScheduler(SCHEDULER_ID))?.next as number;
  await b.ensure();
  await a.ensure();
  expect(await queue.getJobSchedulersCount()).toBe(1);
  expect((await queue.getJobScheduler(SCHEDULER_ID))?.next).toBe(planned);
  expect((planned - 1234) % 60_000).toBe(0);
  // The planned slot is held (waiting), the next one is not yet.
  expect(await a.knowsSlot(planned)).toBe(true);
  expect(await a.knowsSlot(planned + 60_000)).toBe(false);
  expect((await queue.getJobs(['delayed'])).length).toBe(1);
});

it('a job that throws reaches the failed handler with its attempt id and its tries (no job failure goes unlogged)', async () => {
  const prefix = testPrefix('bullf');
  const s = new HeartbeatScheduler({
    clock: systemClock,
    timers: systemTimers,
    nodeId: 'n1',
    bullPrefix: prefix,
    connection,
    intervalMs: 60_000,
    offsetMs: 1234,
  });
  const failures: Array<{ attemptId: string; slot: number | null; err: string; made: number; allowed: number }> = [];
  const jobs: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: 'info',
    destination: new Writable({
      write: (chunk: Buffer, _e, cb) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          // `err` is the error as the logger serializes it; its message is what is checked.
          const { msg, attemptId, err, tries } = JSON.parse(line) as { msg: unknown; attemptId: unknown; err?: { message?: string }; tries: unknown };
          lines.push({ msg, attemptId, err: err?.message, tries });
        }
        cb();
      },
    }),
  });
  s.start({
    job: async ({ attemptId }) => {
      jobs.push(attemptId);
      throw new Error('disk said no');
    },
    slot: () => undefined,
    error: () => undefined,
    failed: (attempt, error, tries) => {
      failures.push({ attemptId: attempt.attemptId, slot: attempt.slot, err: error.message, made: tries.made, allowed: tries.allowed });
      logJobFailure(log, attempt, error, tries);
    },
  });
  closers.push(() => s.closeWorker(true).then(() => s.closeQueue()));
  await s.addNow('registered-7');
  // Every heartbeat job has three tries, a second apart (jobOptions).
  await waitFor('three failed tries reported', () => failures.length >= 3, 30_000, 20);
  expect(failures.slice(0, 3)).toEqual([1, 2, 3].map((made) => ({ attemptId: 'registered-7', slot: null, err: 'disk said no', made, allowed: 3 })));
  expect(jobs.slice(0, 3)).toEqual(['registered-7', 'registered-7', 'registered-7']);
  // What the agent logs of them: the last try says the slot is missed.
  expect(lines.slice(0, 3)).toEqual([
    { msg: 'Heartbeat job failed; BullMQ tries it again under the same attempt id', attemptId: 'registered-7', err: 'disk said no', tries: 1 },
    { msg: 'Heartbeat job failed; BullMQ tries it again under the same attempt id', attemptId: 'registered-7', err: 'disk said no', tries: 2 },
    { msg: 'Heartbeat job failed and has no tries left: the slot counts as missed', attemptId: 'registered-7', err: 'disk said no', tries: 3 },
  ]);
});
