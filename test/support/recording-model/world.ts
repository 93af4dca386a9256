import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { noteVerdict } from '../../../daemon/agent/attempt-plan';
import { AttemptFlow } from '../../../daemon/agent/attempt-flow';
import type { AttemptRunner } from '../../../daemon/agent/attempt-runner';
import { LocalDisk, type LocalWriteOp } from '../../../daemon/agent/local-disk';
import { LocalState, type CachedCredential } from '../../../daemon/agent/local-state';
import { Recovery } from '../../../daemon/agent/recovery';
import { ResultSink } from '../../../daemon/agent/result-sink';
import { Aggregator } from '../../../daemon/aggregator/aggregator';
import type { LeaderElection } from '../../../daemon/aggregator/leader-election';
import { switchCredential } from '../../../daemon/credentials/credential-switch';
import { registerCredential } from '../../../daemon/credentials/register-credential';
import type { Outcome } from '../../../daemon/protocol/classify';
import { ProjectViewReader } from '../../../daemon/view/project-view';
import type { Clock } from '../../../shared/clock';
import type { Config } from '../../../shared/config/compile';
import type { ChangeEvents } from '../../../shared/redis/change-event-subscriber';
import { createLogger, type Logger } from '../../../shared/logger';
import { ProjectKeys } from '../../../shared/redis/keys';
import { FakeClock } from '../../../harness/fake-clock';
import { writeKeyPairs } from '../key-dirs';
import { testPrefix, type TestRedis } from '../../../harness/redis-server';

/**
 * The real system the recording model drives: one project on a real Redis, and per
 * node the agent's real recording parts wired as agent/agent-parts.ts wires them —
 * LocalDisk, LocalState, Recovery, ResultSink (journal included) and AttemptFlow —
 * with the authorization server's answer given by the command and a fake clock per
 * node (the only thing faked). `register`, `crypto switch` and the leader's write
 * (Aggregator with its `recover` step and the real fenced script) are the product's
 * own functions. Faults are real too: a node's connection closed (Redis away for it),
 * FLUSHALL and DEL on the server, fields written by another client, and a crash that
 * drops a node's memory and starts it again from what its disk holds, its disk frozen
 * at a chosen write (what a process killed at that moment left behind).
 */

export const MODEL_POLICY = { failurePolicy: 'any' as const, threshold: 3, intervalMs: 7_200_000 };

/**
 * A LocalDisk at which the process dies at a chosen point: after `allow` more writes,
 * the next write never reaches the disk and the process is gone — `onDeath` closes its
 * Redis connection at that moment, so nothing it would have done after reaches Redis
 * either (what it wrote before stays written).
 */
class CrashableDisk extends LocalDisk {
  private allow = Infinity;
  onDeath: () => void = () => undefined;
  /** Journal writes that reached the disk. */
  journalWrites = 0;

  freezeAfter(writes: number): void {
    this.allow = writes;
  }

  override write(op: LocalWriteOp, fn: () => void): boolean {
    if (this.allow <= 0) {
      if (this.allow === 0) this.onDeath();
      this.allow = -1;
      return false;
    }
    this.allow -= 1;
    const written = super.write(op, fn);
    if (written && op === 'journal') this.journalWrites += 1;
    return written;
  }
}

/** Closes a connection and waits until ioredis says it is closed (its status changes only after the socket's close). */
async function closeClient(redis: Redis): Promise<void> {
  if (redis.status === 'end' || redis.status === 'wait') return;
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  redis.disconnect();
  await ended;
}

/** A log line as JSON. */
export type LogLine = Record<string, unknown> & { msg?: string; attemptId?: string };

export class ModelNode {
  redis!: Redis;
  disk!: CrashableDisk;
  local!: LocalState;
  recovery!: Recovery;
  sink!: ResultSink;
  flow!: AttemptFlow;
  readonly clock = new FakeClock(Date.now());
  /** What the server answers the next attempt. */
  answer: Outcome = { ok: true, license: { expiresAt: null, capacity: 5, bound: 1 } };
  /**
   * Attempts the server answered, in the order they were made, with the credential used.
   * `atRisk`: the process died after the answer and before anything durable held it
   * (the journal's write-ahead line or the Redis write): the answer died with it, and
   * BullMQ asks again under the same id — the oracle counts it at most once, not surely.
   */
  readonly answered: Array<{ attemptId: string; ok: boolean; credential: CachedCredential; atRisk: boolean }> = [];
  /** The process died (a crash under way): the server is not asked any more. */
  private dead = false;
  /** The node's log lines since it started (kept across crashes: they were written to stdout). */
  readonly lines: LogLine[] = [];
  /** The attempt under way, and the journal writes made before its answer. */
  private underWay: string | null = null;
  private journalWritesAtAnswer = 0;
  /** Connected to Redis (false: Redis is away for this node). */
  reachable = true;
  /** Crashed and not started again. */
  down = false;

  constructor(
    readonly id: string,
    private readonly world: RecordingWorld,
  ) {}

  private logger(): Logger {
    return createLogger({
      level: 'debug',
      destination: new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          for (const line of chunk.toString().split('\n').filter(Boolean)) this.lines.push(JSON.parse(line) as LogLine);
          done();
        },
      }),
    });
  }

  /** Builds the parts from what the node's disk holds (a start, or a start after a crash). */
  async start(): Promise<void> {
    const log = this.logger();
    // As the agent's command connection: fails fast instead of queueing while Redis is away.
    this.redis = new Redis(this.world.server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    this.redis.on('error', () => undefined);
    this.disk = new CrashableDisk(this.world.dirOf(this.id), log);
    const redis = this.redis;
    this.dead = false;
    this.disk.onDeath = () => {
      this.dead = true;
      redis.disconnect();
      // An answer no journal line held yet dies with the process.
      const last = this.answered[this.answered.length - 1];
      if (last && last.attemptId === this.underWay && this.disk.journalWrites === this.journalWritesAtAnswer) last.atRisk = true;
    };
    this.local = new LocalState(this.disk, this.id);
    const { local } = this;
    const keys = this.world.keys;
    this.recovery = new Recovery({ redis, keys, nodeId: this.id, local, log, onRestored: () => undefined });
    this.sink = new ResultSink({ redis, keys, nodeId: this.id, disk: this.disk, local, recovery: this.recovery, log });
    const runner = {
      run: async (credential: CachedCredential, attemptId: string): Promise<Outcome> => {
        if (this.dead) throw new Error('the process is dead');
        this.journalWritesAtAnswer = this.disk.journalWrites;
        this.answered.push({ attemptId, ok: this.answer.ok, credential, atRisk: false });
        return this.answer;
      },
    } as unknown as AttemptRunner;
    const config = { node: { id: this.id }, crypto: { keyDir: this.world.keyDir } } as unknown as Config;
    const clock: Clock = this.clock;
    this.flow = new AttemptFlow({
      config,
      redis,
      keys,
      local,
      recovery: this.recovery,
      runner,
      sink: this.sink,
      clock,
      log,
      signal: new AbortController().signal,
    });
    this.down = false;
    if (this.reachable) await this.connect();
  }

  /** Redis answers this node again: the agent's sync (recovery step, then the recent results and the journal). */
  async connect(): Promise<void> {
    this.reachable = true;
    if (this.down) return;
    if (this.redis.status !== 'ready') {
      await this.redis.connect().catch(() => undefined);
    }
    await this.sync();
  }

  async sync(): Promise<void> {
    if (this.down || !this.reachable) return;
    try {
      // The agent's own sequence (Agent.sync) for the recording: recovery, the verdict, the results.
      await this.flow.catchUpWithRedis();
    } catch {
      // As the agent: logged, tried again at the next chance.
    }
  }

  /** Redis goes away for this node: its connection is closed (and known closed before the next command). */
  async disconnect(): Promise<void> {
    this.reachable = false;
    await closeClient(this.redis);
  }

  /** One attempt: online (BullMQ's job) while Redis answers this node, offline (the slot timer) while it does not. */
  async attempt(attemptId: string, answer: Outcome): Promise<void> {
    if (this.down) return;
    this.answer = answer;
    // Attempts are a heartbeat apart: the node's clock moves on (Redis' does not: an estimate ahead of it is capped).
    this.clock.set(this.clock.now() + MODEL_POLICY.intervalMs);
    this.underWay = attemptId;
    await (this.reachable ? this.flow.online(attemptId) : this.flow.offline(attemptId)).catch(() => undefined);
    this.underWay = null;
  }

  /**
   * The process dies: `afterWrites` more local writes reach the disk, then nothing
   * (the attempt `attemptId` runs up to that point first when given), and the node's
   * memory is gone. start() brings it back from its disk.
   */
  async crash(attemptId: string | null, answer: Outcome, afterWrites: number): Promise<void> {
    if (this.down) return;
    this.disk.freezeAfter(afterWrites);
    if (attemptId) await this.attempt(attemptId, answer);
    this.down = true;
    await closeClient(this.redis);
  }

  /** The node's log lines that name a result as lost (never recorded), by attempt id. */
  lostIds(): Set<string> {
    return new Set(
      this.lines.filter((l) => typeof l.msg === 'string' && / lost/.test(l.msg) && typeof l.attemptId === 'string').map((l) => l.attemptId as string),
    );
  }

  /** The node hears the `failed` status event (as Agent.hear: it keeps the verdict). */
  async hearFailed(): Promise<void> {
    if (this.down || !this.reachable) return;
    await noteVerdict(this.redis, this.world.keys, this.local).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.redis) await closeClient(this.redis);
  }
}

/** The leader's lease, as a stub election the Aggregator reads: the lease itself is the real key, set for the epoch. */
class ModelElection extends EventEmitter {
  isLeader = true;
  epoch = 0;
  instance = '';
  stepDown(): void {
    this.isLeader = false;
  }
}

export class RecordingWorld {
  readonly keys: ProjectKeys;
  readonly admin: Redis;
  readonly nodes: ModelNode[];
  readonly keyDir: string;
  private readonly root: string;
  private epoch = 0;
  /** Identity of every registration made, in order (index + 1 = the model's registration number). */
  readonly registrations: string[] = [];

  constructor(
    readonly server: TestRedis,
    nodeIds: readonly string[],
    keyDir: string,
  ) {
    this.keys = new ProjectKeys(testPrefix('model'), 'p');
    this.admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
    // On tmpfs where there is one: the model makes thousands of fsync'ed writes, and their speed is not what it checks.
    this.root = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'fdl-model-'));
    this.keyDir = keyDir;
    this.nodes = nodeIds.map((id) => new ModelNode(id, this));
  }

  /** Key pairs of both algorithms, shared by every node and the CLI (made once: RSA key generation is slow). */
  static keyPairs(): string {
    return writeKeyPairs(mkdtempSync(path.join(os.tmpdir(), 'fdl-model-keys-')));
  }

  dirOf(nodeId: string): string {
    return path.join(this.root, nodeId);
  }

  node(id: string): ModelNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  async start(): Promise<void> {
    for (const n of this.nodes) await n.start();
  }

  /** `fdl-cloudauth register`; the identity it made is kept. */
  async register(): Promise<void> {
    const result = await registerCredential(this.admin, this.keys, {
      account: 'acct',
      password: 'model-pässword',
      keyDir: this.keyDir,
      defaultAlgorithm: 'rsa',
    });
    this.registrations.push(result.registration);
    this.noteCiphertext(await this.admin.hget(this.keys.credential, 'ciphertext'), result.registration);
  }

  /**
   * Every ciphertext ever stored, with the registration it belongs to and its order
   * (registration, then revision): the oracle's own record of which credential an
   * attempt used and which of two credentials is newer, kept apart from the code under
   * test (a fault in its identity or ordering must not blind the oracle).
   */
  private readonly ciphertexts = new Map<string, { registration: string; order: number }>();
  private stored = 0;

  private noteCiphertext(ciphertext: string | null, registration: string): void {
    if (ciphertext && !this.ciphertexts.has(ciphertext)) this.ciphertexts.set(ciphertext, { registration, order: (this.stored += 1) });
  }

  /** The registration (the identity register returned) and order of a ciphertext; null for one nobody stored. */
  credentialOf(ciphertext: string | undefined): { registration: string; order: number } | null {
    return (ciphertext && this.ciphertexts.get(ciphertext)) || null;
  }

  /** `fdl-cloudauth crypto switch` to the other algorithm. */
  async cryptoSwitch(): Promise<void> {
    const algorithm = await this.admin.hget(this.keys.credential, 'algorithm');
    if (algorithm !== 'rsa' && algorithm !== 'sm2') return;
    const before = this.credentialOf((await this.admin.hget(this.keys.credential, 'ciphertext')) ?? undefined);
    await switchCredential(this.admin, this.keys, algorithm === 'rsa' ? 'sm2' : 'rsa', this.keyDir);
    if (before) this.noteCiphertext(await this.admin.hget(this.keys.credential, 'ciphertext'), before.registration);
  }

  /**
   * `leader` becomes the leader (a new epoch, the real lease key) and aggregates once:
   * the real Aggregator, its recovery step (that node's Recovery) before any write, the
   * fenced status script. Every node Redis answers hears a `failed` status it wrote.
   */
  async leaderSweep(leader: ModelNode): Promise<void> {
    if (leader.down || !leader.reachable) return;
    this.epoch += 1;
    const election = new ModelElection();
    election.epoch = this.epoch;
    election.instance = `${leader.id}|model`;
    await this.admin.set(this.keys.leader, `${election.instance}|${this.epoch}`, 'PX', 60_000);
    const fake = new FakeClock();
    const log = createLogger({ level: 'silent' });
    const reader = new ProjectViewReader({ redis: leader.redis, keys: this.keys, policy: MODEL_POLICY, log });
    const aggregator = new Aggregator({
      redis: leader.redis,
      events: new EventEmitter() as unknown as ChangeEvents,
      election: election as unknown as LeaderElection,
      reader,
      log,
      clock: fake,
      timers: fake,
      recover: () => leader.recovery.restore(),
    });
    aggregator.start();
    await aggregator.refresh().catch(() => null);
    await aggregator.close();
    const status = await this.admin.hget(this.keys.status, 'status').catch(() => null);
    if (status === 'failed') for (const n of this.nodes) await n.hearFailed();
  }

  async close(): Promise<void> {
    for (const n of this.nodes) await n.stop();
    this.admin.disconnect();
    rmSync(this.root, { recursive: true, force: true });
  }
}
