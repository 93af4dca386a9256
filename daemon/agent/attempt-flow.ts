import type { Logger } from 'pino';
import type { Clock } from '../../shared/clock';
import type { Config } from '../../shared/config/compile';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { openableKeyIds, publishKeyIds } from '../credentials/node-key-ids';
import type { Outcome } from '../protocol/classify';
import { noteVerdict, planFromLocal, planFromRedis, readBeforeAttempt, rememberRead, type Plan } from './attempt-plan';
import { AttemptAbandoned, type AttemptRunner } from './attempt-runner';
import type { CachedCredential, LocalState } from './local-state';
import { lossSeen, type Recovery } from './recovery';
import type { AttemptResult } from './attempt-recorder';
import { logOutcome, type ResultSink, type Written } from './result-sink';
import { slotOfAttemptId } from './schedule';

/**
 * One attempt from start to end: plan it (from one read of Redis, after the recovery
 * step when that read shows a loss of Redis data; from the local state when Redis does
 * not answer), run it, write its result to the sink, then note it locally. The local
 * note comes after, and best effort: recording in Redis never depends on the node's
 * disk (SPEC §4), and once the answer is known nothing throws, so BullMQ never
 * retries — calls the server again for — an attempt it has the answer of. Two ways in —
 * `online` (BullMQ's jobs, a missed slot) and `offline` (the slot timer while Redis is
 * away) — and one way through.
 */

export interface AttemptFlowOptions {
  config: Pick<Config, 'node' | 'crypto'>;
  redis: RedisClient;
  keys: ProjectKeys;
  local: LocalState;
  recovery: Recovery;
  runner: AttemptRunner;
  sink: ResultSink;
  clock: Clock;
  log: Logger;
  /** Aborted at shutdown: a running attempt is abandoned unrecorded. */
  signal: AbortSignal;
}

export class AttemptFlow {
  /** The key ids last published to Redis (null: publish at the next chance). */
  private publishedKeyIds: string | null = null;
  /**
   * Attempts running in this process. BullMQ's job for a slot may still be running when
   * Redis goes away and the slot timer takes the same slot from the journal: the server
   * is asked once, the result counted once either way.
   */
  private readonly underWay = new Set<string>();

  constructor(private readonly o: AttemptFlowOptions) {}

  async online(attemptId: string): Promise<void> {
    await this.attempt(attemptId, await this.planOnline(attemptId));
  }

  async offline(attemptId: string): Promise<void> {
    await this.attempt(attemptId, planFromLocal(this.o.local));
  }

  /** The recovery step: puts back what Redis lost of what this node holds (Recovery tells the agent). */
  recover(): Promise<string[]> {
    return this.o.recovery.restore();
  }

  /**
   * When Redis answers again: the recovery step, the `failed` verdict written while this
   * node could not hear it (kept, to restore it should Redis lose it), then the results
   * Redis may lack (ResultSink.resync). Throws when Redis goes away again.
   */
  async catchUpWithRedis(): Promise<void> {
    await this.recover();
    await noteVerdict(this.o.redis, this.o.keys, this.o.local);
    await this.o.sink.resync();
  }

  /** Redis lost data: the key ids published went with it, so the next chance publishes them again. */
  keyIdsLost(): void {
    this.publishedKeyIds = null;
  }

  /** Makes known which key ids this node can open (R9); Redis is written only when the answer changed, or `again`. */
  async publishKeyIds(again = false): Promise<void> {
    const ids = openableKeyIds(this.o.config.crypto.keyDir);
    const text = ids.join(',');
    if (text === this.publishedKeyIds && !again) return;
    await publishKeyIds(this.o.redis, this.o.keys, this.o.config.node.id, ids);
    this.publishedKeyIds = text;
    this.o.log.info({ keyIds: ids }, 'Published the key ids this node can open');
  }

  private async planOnline(attemptId: string): Promise<Plan> {
    const { redis, keys, config, local } = this.o;
    try {
      let before = await readBeforeAttempt(redis, keys, config.node.id, attemptId);
      if (lossSeen(before, local)) {
        // Lost without a disconnect (FLUSHALL): recover first, then read again.
        await this.recover();
        before = await readBeforeAttempt(redis, keys, config.node.id, attemptId);
      }
      rememberRead(before, local, this.o.clock.now());
      return planFromRedis(before);
    } catch (error) {
      this.o.log.warn({ err: error, attemptId }, 'Redis unreachable before the attempt: using the local state');
      return planFromLocal(local);
    }
  }

  private async attempt(attemptId: string, plan: Plan): Promise<void> {
    const { log } = this.o;
    if (!plan.go) return void log[plan.level]({ attemptId, err: plan.detail }, plan.why);
    if (this.underWay.has(attemptId)) return void log.debug({ attemptId }, 'Attempt already under way in this process; not repeating it');
    this.underWay.add(attemptId);
    try {
      await this.make(attemptId, plan.credential, plan.online);
    } finally {
      this.underWay.delete(attemptId);
    }
  }

  /** Runs the attempt, writes its result (Redis, or the journal), then notes it locally. */
  private async make(attemptId: string, credential: CachedCredential, online: boolean): Promise<void> {
    const { log, local } = this.o;
    // What the node held when the attempt began: its result is in order after that (record-attempt-7.lua, "Time").
    const madeAfter = Number(local.get().nodeRecord?.lastAttemptAt ?? '') || undefined;
    let outcome: Outcome;
    try {
      outcome = await this.o.runner.run(credential, attemptId, this.o.signal);
    } catch (error) {
      // Shutting down mid-attempt: unrecorded, so BullMQ re-runs the job under the same id.
      if (error instanceof AttemptAbandoned) log.info({ attemptId }, 'Attempt abandoned by shutdown');
      throw error;
    }
    const s = local.get();
    const estimate = this.o.clock.now() + s.redisClockOffsetMs;
    const result = { nodeId: this.o.config.node.id, attemptId, outcome, generation: credential.generation, registration: credential.registration, madeAfter };
    const written = await this.write(result, estimate, online);
    logOutcome(log, attemptId, outcome, written);
    // Best effort, never throws: the attempt's time and, for a slot, the slot (the timer must not repeat a slot BullMQ attempted).
    local.update({ lastAttemptAt: estimate, lastSlot: Math.max(slotOfAttemptId(attemptId) ?? 0, s.lastSlot ?? 0) || null });
    if (written.where === 'redis')
      await this.publishKeyIds().catch((error: unknown) => log.warn({ err: error }, 'Could not publish the key ids this node can open'));
  }

  private async write(result: AttemptResult, estimate: number, online: boolean): Promise<Written> {
    const { log, sink } = this.o;
    try {
      if (online) return await sink.write(result, estimate);
    } catch (error) {
      // The sink does not throw; should it ever, the answer is kept for the replay rather than asked for again.
      log.error({ err: error, attemptId: result.attemptId }, 'Could not write the result: holding it for the replay');
    }
    sink.toJournal({ ...result, atMs: estimate });
    return { where: 'journal' };
  }
}
