import { Worker } from 'node:worker_threads';

/**
 * bcrypt comparisons off the event loop: a worker thread checks one password at a time,
 * from a bounded queue, so that wrong passwords cost the guessers time and never the
 * sidecar its probes, its scrapes or its leader lease.
 *
 * Before, bcryptjs ran on the sidecar's one event loop, many checks at once: under ten
 * guessing addresses /healthz stopped answering and the lease renewals fell behind
 * (test/http/password-flood.process.test.ts). exporter-toolkit checks one at a time too
 * (a mutex around bcrypt), off its request path.
 *
 * - Concurrency: `threads` workers (one by default; at most two, so a 2-core node keeps
 *   a core for the event loop). A worker is started by the first check and stopped
 *   after a while without any (most sidecars never check a password).
 * - The queue holds at most `maxQueued` checks in all and `maxQueuedPerSource` per
 *   source address, and is served round-robin by address: a flood from a few addresses
 *   fills its own share, and a check from another address (Prometheus after a password
 *   change) waits one turn per busy address, not behind the whole flood. A check that
 *   finds the queue full is refused at once (PasswordCheckBusy): the gate answers 429
 *   with Retry-After.
 * - An unknown user is compared against a hash of a random string at the cost of the
 *   configured users (made in the worker, once per cost), so it takes as long as a
 *   known one.
 */
export class PasswordCheckBusy extends Error {
  readonly code = 'ERR_PASSWORD_CHECK_BUSY';
  constructor() {
    super('too many password checks waiting');
    this.name = 'PasswordCheckBusy';
  }
}

export interface BcryptPoolOptions {
  /** Worker threads (1 or 2). */
  readonly threads: number;
  readonly maxQueued: number;
  readonly maxQueuedPerSource: number;
  /** A worker idle this long is stopped. */
  readonly idleMs: number;
}

export const DEFAULT_BCRYPT_POOL: BcryptPoolOptions = Object.freeze({ threads: 1, maxQueued: 64, maxQueuedPerSource: 8, idleMs: 30_000 });

interface Job {
  readonly password: string;
  readonly hash: string | null;
  readonly cost: number;
  resolve(ok: boolean): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  job?: Job;
  idleTimer?: NodeJS.Timeout;
}

// Plain CommonJS run by the worker (eval): bcryptjs is required by the path the main thread resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { randomBytes } = require('node:crypto');
const bcrypt = require(workerData.bcryptPath);
const dummies = new Map();
parentPort.on('message', ({ password, hash, cost }) => {
  let ok = false;
  try {
    if (hash === null) {
      if (!dummies.has(cost)) dummies.set(cost, bcrypt.hashSync(randomBytes(18).toString('base64'), cost));
      bcrypt.compareSync(password, dummies.get(cost));
    } else ok = bcrypt.compareSync(password, hash);
  } catch {
    ok = false;
  }
  parentPort.postMessage(ok);
});
`;

export class BcryptPool {
  private readonly o: BcryptPoolOptions;
  private readonly slots: Slot[] = [];
  private readonly queues = new Map<string, Job[]>();
  private queued = 0;

  constructor(options: Partial<BcryptPoolOptions> = {}) {
    this.o = { ...DEFAULT_BCRYPT_POOL, ...options };
    if (!Number.isInteger(this.o.threads) || this.o.threads < 1 || this.o.threads > 2) throw new RangeError('bcrypt pool threads must be 1 or 2');
  }

  /** Whether `password` matches `hash` (undefined: an unknown user, always false, at the same cost). Rejects with PasswordCheckBusy when the queue is full. */
  compare(password: string, hash: string | undefined, cost: number, source: string): Promise<boolean> {
    const mine = this.queues.get(source);
    if (this.queued >= this.o.maxQueued || (mine?.length ?? 0) >= this.o.maxQueuedPerSource) return Promise.reject(new PasswordCheckBusy());
    return new Promise<boolean>((resolve, reject) => {
      const job: Job = { password, hash: hash ?? null, cost, resolve, reject };
      if (mine) mine.push(job);
      else this.queues.set(source, [job]);
      this.queued += 1;
      this.pump();
    });
  }

  /** The next job, round-robin over the sources waiting. */
  private next(): Job | undefined {
    const first = this.queues.entries().next();
    if (first.done) return undefined;
    const [source, jobs] = first.value;
    const job = jobs.shift();
    this.queues.delete(source);
    // To the back of the line, if it has more.
    if (jobs.length > 0) this.queues.set(source, jobs);
    if (job) this.queued -= 1;
    return job;
  }

  private pump(): void {
    while (this.queued > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.o.threads) slot = this.start();
      if (!slot) return;
      const job = this.next();
      if (!job) return;
      clearTimeout(slot.idleTimer);
      slot.job = job;
      slot.worker.postMessage({ password: job.password, hash: job.hash, cost: job.cost });
    }
  }

  private start(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptPath: require.resolve('bcryptjs') } });
    // Never what keeps the process alive: the servers do that.
    worker.unref();
    const slot: Slot = { worker };
    this.slots.push(slot);
    worker.on('message', (ok: boolean) => {
      const job = slot.job;
      slot.job = undefined;
      job?.resolve(ok === true);
      slot.idleTimer = setTimeout(() => this.stop(slot), this.o.idleMs);
      slot.idleTimer.unref();
      this.pump();
    });
    const gone = (error: Error) => {
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots.splice(index, 1);
      clearTimeout(slot.idleTimer);
      slot.job?.reject(error);
      slot.job = undefined;
      // A new worker takes the rest of the queue.
      this.pump();
    };
    worker.on('error', gone);
    worker.on('exit', () => gone(new Error('the password check worker exited')));
    return slot;
  }

  private stop(slot: Slot): void {
    if (slot.job) return;
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    void slot.worker.terminate();
  }

  /** Stops every worker; checks still waiting are refused. */
  async close(): Promise<void> {
    for (const [, jobs] of this.queues) for (const job of jobs) job.reject(new PasswordCheckBusy());
    this.queues.clear();
    this.queued = 0;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => (clearTimeout(s.idleTimer), s.worker.terminate())));
  }
}
