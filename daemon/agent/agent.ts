import { randomUUID } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Clock } from '../../shared/clock';
import type { Config } from '../../shared/config/compile';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import type { AuthClient } from '../protocol/auth-client';
import type { Outcome } from '../protocol/classify';
import { CREDENTIAL_UNREADABLE } from '../../shared/catalog';
import type { NodeMetrics } from '../metrics/node-metrics';
import { parseCredential } from '../credentials/credential-store';
import { openableKeyIds, publishKeyIds } from '../credentials/node-key-ids';
import { recordAttempt, restoreAfterLoss, type AttemptResult, type Held, type RecordReply } from './attempt-recorder';
import { CorruptRecordLog } from '../view/corrupt-record-log';
import { nextVerdict, verdictApplies } from './held-verdict';
import { ATTEMPT_BUDGET_MS, authenticate } from './authenticate';
import { Journal, type JournalEntry } from './journal';
import { LocalState, type CachedCredential } from './local-state';
import { nextSlot, queueName, SCHEDULER_ID, slotAttemptId, slotOf, stableOffset } from './schedule';

/**
 * The node agent (SPEC R1-R5, §4). BullMQ runs the node's heartbeat: one queue per
 * node, one job scheduler on it, a worker that makes each attempt. The agent adds what
 * BullMQ cannot give while Redis is away: its own timer on the same slot grid, which
 * authenticates from the cached (still encrypted) credential and appends results to a
 * local journal, replayed when Redis returns. Every result goes through the idempotent
 * recording script keyed on the attempt id, so retries, stalled re-runs, duplicate
 * replicas and replays never count an attempt twice.
 */

export type AgentState = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'STOPPED';

export interface AgentOptions {
  config: Config;
  keys: ProjectKeys;
  /** Fail-fast command connection (enableOfflineQueue off). */
  redis: RedisClient;
  /** Connection for BullMQ (maxRetriesPerRequest null). */
  bullConnection: RedisClient;
  authClient: AuthClient;
  /** Opens the stored credential with this node's private key. */
  decrypt(credential: CachedCredential): Promise<string>;
  metrics: NodeMetrics;
  clock: Clock;
  logger: Logger;
  /** How long close() lets a running attempt finish before abandoning it. */
  closeGraceMs?: number;
}

type Mode = 'redis' | 'journal';

/** Results kept for replayRecent: at the default 2 h interval, four days of them. */
const RECENT_RESULTS = 50;

export class Agent {
  private state: AgentState = 'INITIALIZED';
  private readonly log: Logger;
  private readonly journal: Journal;
  private readonly corrupt: CorruptRecordLog;
  private readonly local: LocalState;
  private readonly intervalMs: number;
  private readonly offsetMs: number;
  private queue: Queue | undefined;
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private schedulerInPlace = false;
  private syncing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private closing: Promise<void> | undefined;
  /** The key ids last published to Redis (null: publish at the next chance). */
  private publishedKeyIds: string | null = null;
  /** BullMQ reports every failed reconnect; one line per outage is enough. */
  private redisErrorLogged = false;
  private readonly onReady = () => {
    this.redisErrorLogged = false;
    void this.syncWithRedis('reconnected');
  };
  private readonly onRedisDown = () => {
    this.schedulerInPlace = false;
  };

  constructor(private readonly o: AgentOptions) {
    this.log = o.logger.child({ part: 'agent', node: o.config.node.id });
    this.journal = new Journal(o.config.journal.dir, o.config.node.id, this.log);
    this.corrupt = new CorruptRecordLog(this.log);
    this.local = new LocalState(o.config.journal.dir, o.config.node.id);
    this.intervalMs = o.config.heartbeat.intervalMs;
    this.offsetMs = stableOffset(o.config.project, o.config.node.id, this.intervalMs);
  }

  get journalPending(): number {
    return this.journal.pending;
  }

  /** Ready: Redis reachable and the node's schedule in place (GET /readyz). */
  get ready(): boolean {
    return this.state === 'RUNNING' && this.o.redis.status === 'ready' && this.schedulerInPlace;
  }

  get status(): AgentState {
    return this.state;
  }

  private logRedisError(source: string, error: Error): void {
    if (this.redisErrorLogged) return;
    this.redisErrorLogged = true;
    this.log.warn({ source, err: error.message }, 'BullMQ lost Redis; the local timer covers heartbeats until it returns');
  }

  private setState(next: AgentState): void {
    this.log.info({ from: this.state, to: next }, 'Agent state changed');
    this.state = next;
  }

  async start(): Promise<void> {
    if (this.state !== 'INITIALIZED') throw new Error(`agent cannot start from state ${this.state}`);
    const { config, keys, bullConnection } = this.o;
    const lockDuration = Math.min(30_000, Math.max(5_000, Math.floor(this.intervalMs / 2)));
    this.queue = new Queue(queueName(config.node.id), { connection: bullConnection, prefix: keys.bullPrefix });
    this.queue.on('error', (error) => this.logRedisError('queue', error));
    this.worker = new Worker(queueName(config.node.id), (job) => this.processJob(job), {
      connection: bullConnection,
      prefix: keys.bullPrefix,
      concurrency: 1,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: 5,
    });
    this.worker.on('error', (error) => this.logRedisError('worker', error));
    this.o.redis.on('ready', this.onReady);
    this.o.redis.on('end', this.onRedisDown);
    this.o.redis.on('close', this.onRedisDown);
    this.setState('RUNNING');
    this.log.info({ intervalMs: this.intervalMs, offsetMs: this.offsetMs }, 'Heartbeat grid');
    if (this.o.redis.status === 'ready') await this.syncWithRedis('start');
    else await this.localCatchUpIfDue();
    this.armTimer();
  }

  /**
   * Runs whenever Redis becomes reachable: put back what Redis lost (its data, or the
   * newest writes a fail-over dropped), replay the journal (so the catch-up check sees
   * the journaled attempts), put the schedule in place (again: Redis may have lost
   * it), then authenticate at once if the last attempt is over an interval old.
   */
  private syncWithRedis(why: string): Promise<void> {
    if (this.state !== 'RUNNING') return Promise.resolve();
    if (this.syncing) return this.syncing;
    this.syncing = (async () => {
      try {
        await this.restoreIfLost();
        // Redis may have lost it, or the key files changed while it was away.
        this.publishedKeyIds = null;
        await this.publishKeyIdsIfChanged();
        await this.replayRecent();
        await this.replayJournal();
        await this.ensureSchedule();
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

  /**
   * Redis may come back empty (restarted without persistence, FLUSHALL). The node
   * writes back what it holds — the credential it last read, still encrypted, and its
   * own latest record — so the project's view returns without a false failure and
   * without asking an operator to register again; and the failed verdict it saw, so
   * a loss does not un-fail the project either. A no-op when nothing is missing.
   */
  private async restoreIfLost(): Promise<void> {
    const held = this.local.get();
    if (!held.credential && !held.nodeRecord) return;
    const restored = await restoreAfterLoss(this.o.redis, this.o.keys, this.o.config.node.id, {
      credential: held.credential,
      record: held.nodeRecord,
      recent: held.recent,
      firstSeenAt: Number(held.nodeRecord?.lastAttemptAt ?? 0),
      verdict: verdictApplies(held.verdict, held.credential) ? held.verdict : null,
    });
    if (restored.length > 0) {
      this.schedulerInPlace = false;
      this.publishedKeyIds = null;
      this.log.warn({ restored }, 'Redis had lost the project data: restored what this node holds (the failure history before the loss is gone)');
    }
  }

  /**
   * Makes known which key ids this node can open (R9), for `crypto switch`. Key files
   * are read again each time, so a key copied to the node is announced at its next
   * attempt; Redis is written only when the answer changed.
   */
  private async publishKeyIdsIfChanged(): Promise<void> {
    const ids = openableKeyIds(this.o.config.crypto.keyDir);
    const text = ids.join(',');
    if (text === this.publishedKeyIds) return;
    await publishKeyIds(this.o.redis, this.o.keys, this.o.config.node.id, ids);
    this.publishedKeyIds = text;
    this.log.info({ keyIds: ids }, 'Published the key ids this node can open');
  }

  /** See LocalStateData.recent: a no-op (every id already recorded) unless Redis lost writes. */
  private async replayRecent(): Promise<void> {
    let restored = 0;
    for (const entry of this.local.get().recent) {
      if ((await this.record(entry)).recorded) restored += 1;
    }
    if (restored > 0) {
      this.log.warn({ restored }, 'Redis had lost results it acknowledged (fail-over to a replica behind the primary?): recorded them again');
    }
  }

  /**
   * Records a result. A record the script had to repair (a field that did not parse)
   * is logged once and counted in the project's corrupt-record total, with the same
   * digest a reader of the broken record would count, so it is counted once.
   */
  private async record(result: AttemptResult | JournalEntry): Promise<RecordReply> {
    const reply = await recordAttempt(this.o.redis, this.o.keys, result, this.held());
    if (reply.corruptBefore) {
      const problem = new Error('numeric fields that did not parse were repaired from the record this node holds');
      if (this.corrupt.report('node', result.nodeId, JSON.stringify(reply.corruptBefore), problem)) {
        await this.corrupt.flush(this.o.redis, this.o.keys).catch((error: unknown) => this.log.warn({ err: (error as Error).message }, 'Could not count a corrupt record'));
      }
    }
    return reply;
  }

  private held(): Held {
    const s = this.local.get();
    return { record: s.nodeRecord, recent: s.recent };
  }

  /** Remembers a result Redis accepted, for replayRecent. */
  private remember(entry: JournalEntry, record: Record<string, string>): void {
    const recent = [...this.local.get().recent.filter((e) => e.attemptId !== entry.attemptId), entry].slice(-RECENT_RESULTS);
    this.local.update({ nodeRecord: record, recent });
  }

  private async replayJournal(): Promise<void> {
    if (this.journal.pending === 0) return;
    const replayed = await this.journal.replay(async (entry: JournalEntry) => {
      const reply = await this.record(entry);
      this.remember(entry, reply.record);
    });
    this.log.info({ replayed }, 'Replayed journal into Redis');
  }

  private async ensureSchedule(): Promise<void> {
    if (!this.queue) return;
    await this.queue.upsertJobScheduler(
      SCHEDULER_ID,
      { every: this.intervalMs, offset: this.offsetMs },
      {
        name: 'heartbeat',
        data: {},
        opts: this.jobOptions(2 * this.intervalMs),
      },
    );
    this.schedulerInPlace = true;
  }

  /** R1: at start, a node whose last attempt is older than one interval authenticates at once. */
  private async catchUpIfDue(): Promise<void> {
    const { redis, keys, config } = this.o;
    const [[, last], [, lastId], [, time]] = (await redis
      .multi()
      .hget(keys.node(config.node.id), 'lastAttemptAt')
      .hget(keys.node(config.node.id), 'lastAttemptId')
      .time()
      .exec()) as [[unknown, string | null], [unknown, string | null], [unknown, [string, string]]];
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    this.local.update({ redisClockOffsetMs: now - this.o.clock.now() });
    if (last !== null && now - Number(last) < this.intervalMs) return;
    // Replicas of one node id read the same last attempt id, so they add one job.
    const jobId = `catchup-${(lastId ?? 'none').replace(/[^A-Za-z0-9_-]/g, '_')}`;
    // BullMQ keeps a finished job for two intervals and ignores an add under its id: a
    // node without a record (after unbind) reuses `catchup-none`, so a finished one is
    // removed first. One still waiting or running (a replica's) is left to run once.
    const finished = await this.queue?.getJob(jobId);
    if (finished && ['completed', 'failed'].includes(await finished.getState())) await finished.remove();
    await this.queue?.add('heartbeat', {}, { jobId, ...this.jobOptions(2 * this.intervalMs) });
    this.log.info({ jobId }, 'Last attempt is older than one interval: authenticating now');
  }

  /** Same rule while Redis is away at start: judged from the local state. */
  private async localCatchUpIfDue(): Promise<void> {
    const s = this.local.get();
    const now = this.o.clock.now() + s.redisClockOffsetMs;
    if (s.lastAttemptAt !== null && now - s.lastAttemptAt < this.intervalMs) return;
    // Not awaited: start() must not wait through a whole attempt (up to its 5 min budget).
    void this.track(this.performAttempt(`catchup-local-${randomUUID()}`, 'journal')).catch((error: unknown) =>
      this.log.warn({ err: (error as Error).message }, 'Catch-up attempt failed'),
    );
  }

  /**
   * Reads the project status with the credential and keeps a `failed` verdict in the
   * local state (the daemon calls this on every status event), so every node holds the
   * verdict within moments of the leader writing it, not at its next attempt.
   */
  async noteVerdict(): Promise<void> {
    const { redis, keys } = this.o;
    const [[, cred], [, status]] = (await redis.multi().hgetall(keys.credential).hgetall(keys.status).exec()) as [[unknown, Record<string, string>], [unknown, Record<string, string>]];
    let credential: CachedCredential | null;
    try {
      credential = parseCredential(cred ?? {});
    } catch {
      return; // logged by the attempt that reads it
    }
    const verdict = nextVerdict(this.local.get().verdict, status ?? {}, credential);
    this.local.update({ verdict, projectFailed: verdictApplies(verdict, credential) });
  }

  /** Makes every live node authenticate at once after `register` (jobId dedupes replicas). */
  async authenticateNow(reason: string): Promise<void> {
    await this.queue?.add('heartbeat', {}, { jobId: reason.replace(/[^A-Za-z0-9_-]/g, '_'), ...this.jobOptions(Math.max(3_600_000, 2 * this.intervalMs)) });
  }

  /**
   * Completed jobs are kept for `keepMs` so a second replica adding the same job id
   * finds it and adds nothing. A job that throws (an attempt abandoned by shutdown)
   * is retried with the same id, hence the same attempt id.
   */
  private jobOptions(keepMs: number) {
    return {
      attempts: 3,
      backoff: { type: 'fixed' as const, delay: 1000 },
      removeOnComplete: { age: Math.ceil(keepMs / 1000), count: 1000 },
      removeOnFail: { age: 7 * 86_400, count: 1000 },
    };
  }

  private armTimer(): void {
    if (this.state !== 'RUNNING') return;
    const now = this.o.clock.now();
    const slot = nextSlot(now, this.intervalMs, this.offsetMs);
    // Give BullMQ the first chance; the local timer only acts when Redis is away.
    const grace = Math.min(30_000, Math.floor(this.intervalMs / 4));
    this.timer = setTimeout(() => {
      // Arm the next slot first: checking Redis may take a while, and must not push it back.
      this.armTimer();
      void this.track(this.onSlot(slot)).catch((error: unknown) => this.log.warn({ err: (error as Error).message, slot }, 'Heartbeat slot failed'));
    }, slot + grace - now);
    this.timer.unref();
  }

  /**
   * The local timer, at each slot plus a grace. One question to Redis — was this slot
   * recorded? — serves as the health check too (bounded to 1 s, since a paused Redis
   * keeps the socket open). No answer: authenticate from the journal. An answer: catch
   * up on a Redis that came back without a reconnect, and make sure the heartbeat did
   * not stop silently — if BullMQ neither ran nor holds the slot's job (its schedule was
   * lost with Redis data, say), authenticate now and put the schedule back.
   */
  private async onSlot(slot: number): Promise<void> {
    const attemptId = slotAttemptId(slot);
    let recorded: boolean;
    try {
      recorded = (await withTimeout(this.o.redis.zscore(this.o.keys.attempts(this.o.config.node.id), attemptId), 1000)) !== null;
    } catch {
      if ((this.local.get().lastSlot ?? 0) >= slot) return;
      this.local.update({ lastSlot: slot });
      this.log.warn({ slot }, 'Redis unreachable at heartbeat time: authenticating from the local journal');
      await this.performAttempt(attemptId, 'journal');
      return;
    }
    if (this.journal.pending > 0 || !this.schedulerInPlace) await this.syncWithRedis('Redis answers again');
    if (recorded) return;
    try {
      const state = await this.queue?.getJobState(attemptId);
      if (state !== undefined && state !== 'unknown') return;
      this.log.warn({ slot }, 'The schedule missed a heartbeat slot: authenticating now and restoring the schedule');
      await this.ensureSchedule();
      await this.performAttempt(attemptId, 'redis');
    } catch (error) {
      this.log.warn({ err: (error as Error).message, slot }, 'Could not check the heartbeat slot');
    }
  }

  private async processJob(job: Job): Promise<void> {
    const attemptId = job.id ?? `job-${randomUUID()}`;
    if (this.journal.has(attemptId)) return; // made while Redis was away; the replay records it
    await this.track(this.performAttempt(attemptId, 'redis'));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * One attempt: read what it needs (credential, sticky status, idempotency) in one
   * round trip, authenticate, record — or journal when Redis is away.
   */
  private async performAttempt(attemptId: string, mode: Mode, afterRestore = false): Promise<void> {
    const { config, keys, redis } = this.o;
    let credential: CachedCredential | null;
    if (mode === 'redis') {
      let reply: Array<[Error | null, unknown]>;
      try {
        reply = (await redis
          .multi()
          .hgetall(keys.credential)
          .hgetall(keys.status)
          .zscore(keys.attempts(config.node.id), attemptId)
          .time()
          .exists(keys.node(config.node.id))
          .exec()) as Array<[Error | null, unknown]>;
      } catch (error) {
        this.log.warn({ err: error, attemptId }, 'Redis unreachable before the attempt: using the local state');
        return this.performAttempt(attemptId, 'journal');
      }
      const cred = reply[0]?.[1] as Record<string, string>;
      const statusHash = (reply[1]?.[1] ?? {}) as Record<string, string>;
      const status = statusHash.status ?? null;
      const seen = reply[2]?.[1] as string | null;
      const time = reply[3]?.[1] as [string, string];
      const redisNow = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
      const nodeExists = reply[4]?.[1] === 1;
      const held = this.local.get();
      const lostCredential = Object.keys(cred ?? {}).length === 0 && held.credential !== null;
      const lostRecord = !nodeExists && held.nodeRecord !== null;
      // A failed verdict this node saw for the credential Redis holds, and a status that is not failed: lost too.
      const lostVerdict = status !== 'failed' && verdictApplies(held.verdict, parseCredentialOrNull(cred ?? {}));
      if (!afterRestore && (lostCredential || lostRecord || lostVerdict)) {
        // Redis lost its data without dropping the connection (FLUSHALL): restore first.
        await this.restoreIfLost();
        return this.performAttempt(attemptId, mode, true);
      }
      try {
        credential = parseCredential(cred ?? {});
      } catch (error) {
        this.log.error({ err: (error as Error).message, attemptId }, 'Stored credential does not parse: run `fdl-cloudauth register` again');
        return;
      }
      const verdict = nextVerdict(held.verdict, statusHash, credential);
      this.local.update({ credential, projectFailed: status === 'failed', verdict, redisClockOffsetMs: redisNow - this.o.clock.now() });
      if (seen !== null) {
        this.log.debug({ attemptId }, 'Attempt already recorded; not repeating it');
        return;
      }
      if (status === 'failed') {
        this.log.info({ attemptId }, 'Project is marked failed: not authenticating until it is registered again');
        return;
      }
    } else {
      credential = this.local.get().credential;
      if (this.local.get().projectFailed) {
        this.log.info({ attemptId }, 'Project was marked failed: not authenticating until it is registered again');
        return;
      }
    }
    if (!credential) {
      this.log.warn({ attemptId }, 'No credential stored for the project: run `fdl-cloudauth register`');
      return;
    }

    const started = process.hrtime.bigint();
    const opened = await this.openCredential(credential, attemptId);
    const outcome = 'failure' in opened ? opened.failure : await this.callServer(credential.account, opened.password, attemptId);
    if (this.abort.signal.aborted) {
      // Shutting down mid-attempt: abandon it unrecorded; BullMQ re-runs the job elsewhere.
      this.log.info({ attemptId }, 'Attempt abandoned by shutdown');
      throw new Error('attempt abandoned by shutdown');
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.o.metrics.attemptFinished(outcome.ok, outcome.ok ? null : outcome.name, seconds);
    const result = { nodeId: config.node.id, attemptId, outcome, generation: credential.generation };
    const estimate = this.o.clock.now() + this.local.get().redisClockOffsetMs;
    const slot = slotOf(attemptId);
    // One write of the state file: the attempt's time and, for a scheduled slot, the
    // slot itself (the local timer must not repeat a slot BullMQ already attempted).
    const lastSlot = Math.max(slot ?? 0, this.local.get().lastSlot ?? 0) || null;
    this.local.update({ lastAttemptAt: estimate, lastSlot });
    if (mode === 'redis') {
      try {
        // Older results first: the streak follows the order attempts were made.
        if (this.journal.pending > 0) await this.replayJournal();
        const reply = await this.record(result);
        this.remember({ ...result, atMs: reply.atMs }, reply.record);
        this.logOutcome(attemptId, outcome, reply.consecutiveFailures, reply.recorded);
        await this.publishKeyIdsIfChanged().catch((error: unknown) => this.log.warn({ err: (error as Error).message }, 'Could not publish the key ids this node can open'));
        return;
      } catch (error) {
        this.log.warn({ err: error, attemptId }, 'Redis went away before the result was recorded: journaling it');
      }
    }
    this.journal.append({ ...result, atMs: estimate });
    this.logOutcome(attemptId, outcome, null, false);
  }

  /** One attempt's call to /v1/authenticate, with its retries (SPEC R2). */
  private async callServer(account: string, password: string, attemptId: string): Promise<Outcome> {
    const { config } = this.o;
    const { outcome } = await authenticate(
      this.o.authClient,
      { account, password, project: config.project, node: { ...config.node }, version: config.product.version, requestId: attemptId },
      {
        retries: config.heartbeat.retries,
        backoffMs: Math.min(1000, Math.floor(this.intervalMs / 20)),
        budgetMs: Math.min(ATTEMPT_BUDGET_MS, Math.floor(this.intervalMs * 0.8)),
      },
      this.abort.signal,
    );
    return outcome;
  }

  /**
   * The password, or — when this node cannot open the stored credential (key file
   * missing, wrong key pair after a crypto switch) — a failure to record: nothing
   * reaches the server, which counts that as failing, so the project must degrade and
   * alert instead of the node silently going stale.
   */
  private async openCredential(credential: CachedCredential, attemptId: string): Promise<{ password: string } | { failure: Outcome }> {
    try {
      return { password: await this.o.decrypt(credential) };
    } catch (error) {
      this.log.error({ err: error, attemptId }, 'Cannot open the stored credential on this node');
      return {
        failure: {
          ok: false,
          code: null,
          name: CREDENTIAL_UNREADABLE.name,
          message: `not sent: this node cannot open the stored credential (${(error as Error).message}); check crypto.keyDir`,
          transient: false,
        },
      };
    }
  }

  private logOutcome(attemptId: string, outcome: Outcome, streak: number | null, recorded: boolean): void {
    const where = recorded ? 'redis' : streak === null ? 'journal' : 'duplicate';
    if (outcome.ok) this.log.info({ attemptId, where }, 'Authenticated');
    else this.log.warn({ attemptId, where, code: outcome.code, reason: outcome.name, detail: outcome.message, consecutiveFailures: streak }, 'Authentication failed');
  }

  /**
   * Stops taking attempts, lets a running one finish (up to closeGraceMs), then
   * abandons it unrecorded — BullMQ retries the job (or re-runs it once stalled) under the same id, so it is
   * still counted once. Idempotent: a second call waits for the first.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      if (this.state === 'RUNNING') this.setState('STOPPING');
      if (this.timer) clearTimeout(this.timer);
      this.o.redis.off('ready', this.onReady);
      this.o.redis.off('end', this.onRedisDown);
      this.o.redis.off('close', this.onRedisDown);
      const grace = this.o.closeGraceMs ?? 10_000;
      const settled = () => Promise.allSettled([...this.inFlight]);
      const within = (ms: number) => Promise.race([settled().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
      if (!(await within(grace))) {
        // Abandon the call: the processor throws, and BullMQ puts the job back for a
        // retry under the same id (the next sidecar of this node runs it at once).
        this.abort.abort();
        await within(2000);
      }
      // With Redis away BullMQ cannot hand its lock back; closing by force then leaves
      // at most one job to be re-run (same id) once its lock expires.
      const force = this.o.redis.status !== 'ready';
      await boundedStep(this.log, 'worker', () => this.worker?.close(force), 5000);
      await boundedStep(this.log, 'queue', () => this.queue?.close(), 2000);
      this.setState('STOPPED');
    })();
    return this.closing;
  }
}

function parseCredentialOrNull(hash: Record<string, string>): CachedCredential | null {
  try {
    return parseCredential(hash);
  } catch {
    return null;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

async function boundedStep(log: Logger, part: string, step: () => Promise<unknown> | undefined, ms: number): Promise<void> {
  try {
    const finished = await Promise.race([Promise.resolve(step()).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    if (!finished) log.warn({ part, ms }, 'Part did not close in time; leaving it');
  } catch (error) {
    log.warn({ err: error, part }, 'Part did not close cleanly');
  }
}
