import type { Logger } from 'pino';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import type { Outcome } from '../protocol/classify';
import { CorruptRecordLog } from '../view/corrupt-record-log';
import type { LostWhy } from '../metrics/node-metrics';
import { recordAttempt, RecordingRefusedError, type AttemptResult, type RecordReply } from './attempt-recorder';
import { LuaReplyError } from '../../shared/redis/lua-script';
import { DamagedKeyError } from '../../shared/redis/damaged-key-error';
import { Journal, type JournalEntry } from './journal';
import type { LocalDisk } from './local-disk';
import type { LocalState } from './local-state';
import type { Recovery } from './recovery';
import { attemptIdAliases } from './schedule';

/**
 * Where an attempt's result goes: Redis through the idempotent recording script, or —
 * when Redis does not answer — the local journal (SPEC §4), replayed when it answers
 * again. The sink owns the replay: one at a time, older results first (the streak
 * follows the order attempts were made), and before any newer result is recorded.
 */

/** Results kept for replayRecent: at the default 2 h interval, four days of them. */
const RECENT_RESULTS = 50;

export type Written = { where: 'redis'; reply: RecordReply } | { where: 'journal' };

export interface ResultSinkOptions {
  redis: RedisClient;
  keys: ProjectKeys;
  nodeId: string;
  disk: LocalDisk;
  local: LocalState;
  recovery: Recovery;
  log: Logger;
  /** Told of answered attempts that will never be recorded (each also named in a log line). */
  onLost?(why: LostWhy, count: number): void;
}

/**
 * Why a write to Redis failed, for the log: Redis away (the connection, or a server
 * that does not take writes now) is the usual case and heals by itself; a refusal of
 * the data (a damaged key of the project's, a recording refused after recovery, a
 * script's own error) needs someone to look. Either way the result stays in the
 * journal, so nothing is lost while it is fixed.
 */
export function redisAway(error: unknown): boolean {
  if (error instanceof RecordingRefusedError || error instanceof DamagedKeyError || error instanceof LuaReplyError) return false;
  const message = error instanceof Error ? error.message : String(error);
  // A script error names the script ('user_script', 'ERR Error running script'); those are not Redis being away.
  return !/user_script|Error running script|script:/i.test(message);
}

export class ResultSink {
  private readonly journal: Journal;
  private readonly corrupt: CorruptRecordLog;

  constructor(private readonly o: ResultSinkOptions) {
    this.journal = new Journal(o.disk, o.nodeId, o.log, () => o.onLost?.('held_max', 1));
    this.corrupt = new CorruptRecordLog(o.log);
  }

  get pending(): number {
    return this.journal.pending;
  }

  /** Results held only in memory (the journal could not be written): a restart loses them. */
  get unsaved(): number {
    return this.journal.unsaved;
  }

  /** At stop: results neither Redis nor the journal took are lost with the process; says so. */
  reportUnsavedAtStop(): void {
    if (this.unsaved === 0) return;
    this.o.log.error(
      { lost: this.unsaved, dir: this.o.disk.dir },
      'Stopping with results held only in memory (neither Redis nor the journal took them): they are lost',
    );
  }

  /** The attempt was journaled and waits for its replay (under any of its names). */
  journaled(attemptId: string): boolean {
    return attemptIdAliases(attemptId).some((id) => this.journal.has(id));
  }

  /**
   * Redis first (after the journal's older results); the journal when Redis does not
   * answer. Never throws: a result whose answer is known is never left for BullMQ to
   * retry (a second call to the server for the same slot).
   */
  async write(result: AttemptResult, estimatedAt: number): Promise<Written> {
    // Written ahead to the journal (when the disk takes writes): a crash from here until
    // the node has noted the recording finds the result in the journal at its start and
    // records it then — again, harmlessly, or for the first time if Redis lost it
    // meanwhile. Dropped once the node holds the record that reflects it.
    const ahead: JournalEntry | null = this.o.disk.writable ? { ...result, atMs: estimatedAt } : null;
    if (ahead) this.journal.append(ahead);
    try {
      if (this.journal.pending > (ahead ? 1 : 0)) await this.replay(ahead ?? undefined);
      const reply = await this.record(result);
      if (reply.expired) this.expired({ ...result, atMs: reply.atMs });
      else this.remember({ ...result, atMs: reply.atMs }, reply);
      if (ahead) this.journal.drop(ahead);
      return { where: 'redis', reply };
    } catch (error) {
      if (redisAway(error)) this.o.log.warn({ err: error, attemptId: result.attemptId }, 'Redis went away before the result was recorded: journaling it');
      else
        this.o.log.error(
          { err: error, attemptId: result.attemptId },
          'Redis refused to record the result (the data or a script, not the connection): journaling it until it is fixed',
        );
      if (!ahead || !this.journal.has(ahead.attemptId)) this.toJournal({ ...result, atMs: estimatedAt });
      return { where: 'journal' };
    }
  }

  /** Straight to the journal (held in memory when the disk refuses it): Redis did not answer before the attempt. Never throws. */
  toJournal(entry: JournalEntry): void {
    this.journal.append(entry);
  }

  /** Replays the journal into Redis, oldest first (but `skip`, a result being written now); throws (journal kept) when Redis goes away again. */
  async replay(skip?: JournalEntry): Promise<void> {
    if (this.journal.pending === 0) return;
    const replayed = await this.journal.replay(async (entry) => {
      const reply = await this.record(entry);
      if (reply.expired) return this.expired(entry);
      // Kept with the time Redis recorded (an estimate ahead of Redis is capped): the ids put back after a loss go up to the record's time.
      this.remember({ ...entry, atMs: reply.atMs }, reply);
    }, skip);
    if (replayed > 0) this.o.log.info({ replayed }, 'Replayed journal into Redis');
  }

  /** After Redis answers again (the agent's sync, after the recovery step): the recent results re-recorded, then the journal replayed. */
  async resync(): Promise<void> {
    await this.replayRecent();
    await this.replay();
  }

  /**
   * Records again the latest results Redis accepted: a no-op (every id already recorded)
   * unless a fail-over to a replica that lagged dropped writes the old primary acknowledged.
   */
  async replayRecent(): Promise<void> {
    if (this.o.local.get().recent.length === 0) return;
    if ((await this.o.redis.sismember(this.o.keys.removed, this.o.nodeId)) === 1) {
      // Unbound on purpose (`unbind`) while this node held them: they belong to a record
      // that is over, and would come back as the new record's history and totals.
      this.o.local.update({ nodeRecord: null, recent: [] });
      this.o.log.info('This node was unbound from the project: its earlier results stay out of its new record');
      return;
    }
    let restored = 0;
    const expired = new Set<string>();
    let latest: RecordReply | null = null;
    for (const entry of this.o.local.get().recent) {
      const reply = await this.record(entry);
      if (!reply.expired) latest = reply;
      if (reply.recorded) restored += 1;
      // Recorded long ago and past the horizon of the ids that guard it: never again.
      if (reply.expired) expired.add(entry.attemptId);
    }
    // The record as Redis holds it now: what a restart or a crash since the last note may have left the node without.
    this.o.local.update({
      ...(latest ? { nodeRecord: latest.record } : {}),
      recent: this.o.local.get().recent.filter((e) => !expired.has(e.attemptId)),
    });
    if (restored > 0) {
      this.o.log.warn({ restored }, 'Redis had lost results it acknowledged (fail-over to a replica behind the primary?): recorded them again');
    }
  }

  /**
   * A record the script found lost is put back by the recovery step first; one whose
   * numbers did not parse is repaired from what the node holds, logged once and counted
   * in the project's corrupt-record total (with the digest a reader counts, so once).
   */
  private async record(result: AttemptResult | JournalEntry): Promise<RecordReply> {
    const s = this.o.local.get();
    const reply = await recordAttempt(this.o.redis, this.o.keys, result, s.nodeRecord, () => this.o.recovery.restore());
    const found = reply.corruptBefore
      ? this.corrupt.report(
          'node',
          result.nodeId,
          JSON.stringify(reply.corruptBefore),
          new Error('numeric fields that did not parse were repaired from the record this node holds'),
        )
      : false;
    // Keys of the wrong type (SPEC §4): removed and put back by recordAttempt, counted here like a corrupt record.
    const damaged = reply.damaged.filter((role) =>
      this.corrupt.report(
        role,
        result.nodeId,
        'WRONGTYPE',
        new Error(`the ${role} key held a value of the wrong type: removed, and put back from what this node holds`),
      ),
    );
    if (found || damaged.length > 0) {
      await this.corrupt.flush(this.o.redis, this.o.keys).catch((error: unknown) => this.o.log.warn({ err: error }, 'Could not count a corrupt record'));
    }
    return reply;
  }

  /** A journaled result older than the idempotency horizon: never recorded, and said so (SPEC: nothing lost silently). */
  private expired(entry: JournalEntry): void {
    this.o.log.error(
      { attemptId: entry.attemptId, at: new Date(entry.atMs).toISOString() },
      'A journaled result is older than the 30-day idempotency horizon: it is lost, not recorded (it could not be guarded against a second count)',
    );
    this.o.onLost?.('expired', 1);
  }

  /** Remembers a result Redis accepted, for replayRecent and recovery; a record started afresh (after `unbind`) forgets the old one's. */
  private remember(entry: JournalEntry, reply: RecordReply): void {
    const held = this.o.local.get();
    const before = reply.afresh ? [] : held.recent.filter((e) => e.attemptId !== entry.attemptId);
    // The node is a member of the project from its first recorded result: held with the members, so a
    // members set lost or deleted on its own is put back with this node in it (R5: no member goes unseen).
    const members = held.members?.[this.o.nodeId] !== undefined ? held.members : { ...held.members, [this.o.nodeId]: reply.atMs };
    this.o.local.update({ nodeRecord: reply.record, recent: [...before, entry].slice(-RECENT_RESULTS), members });
  }
}

/** How an attempt ended, for the log: recorded, already recorded, or journaled. */
export function logOutcome(log: Logger, attemptId: string, outcome: Outcome, written: Written): void {
  const where = written.where === 'journal' ? 'journal' : written.reply.recorded ? 'redis' : 'duplicate';
  const streak = written.where === 'redis' ? written.reply.consecutiveFailures : null;
  if (outcome.ok) log.info({ attemptId, where }, 'Authenticated');
  else log.warn({ attemptId, where, code: outcome.code, reason: outcome.name, detail: outcome.message, consecutiveFailures: streak }, 'Authentication failed');
}
