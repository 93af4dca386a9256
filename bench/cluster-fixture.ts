import type { Redis } from 'ioredis';
import { ProjectKeys } from '../shared/redis/keys';
import { reason, writeCredential } from '../harness/node-records';
import { startCandidate, type Candidate } from '../harness/sidecar-parts';
import { testPrefix, type TestRedis } from '../harness/redis-server';
import { CommandCounter } from './command-counter';

/**
 * A project of N nodes in a benchmark Redis, and a leader (election + aggregator +
 * reader, wired as the daemon wires them) whose command connection is counted.
 * Records are written with pipelines in the format of shared/redis/records.ts (the
 * same fields as harness/node-records.ts writeNodeRecord), 1,000 to a flush, so
 * 10,000 nodes take about a second to set up.
 *
 * The lease is long and the sweep slow so that nothing but the measured work runs on
 * the leader's connection while a benchmark counts its commands.
 */
export const PROJECT = 'bench';
export const INTERVAL_MS = 7_200_000;

export interface ClusterFixtureOptions {
  redis: TestRedis;
  nodes: number;
  /** Aggregator sweep; default 10 minutes (no background rounds while measuring). */
  sweepMs?: number;
}

export class ClusterFixture {
  readonly keys: ProjectKeys;
  readonly ids: string[];
  private candidate: Candidate | undefined;
  private counterValue: CommandCounter | undefined;

  constructor(private readonly options: ClusterFixtureOptions) {
    this.keys = new ProjectKeys(testPrefix('bench'), PROJECT);
    this.ids = Array.from({ length: options.nodes }, (_, i) => `node-${String(i).padStart(5, '0')}`);
  }

  get leader(): Candidate {
    if (!this.candidate) throw new Error('ClusterFixture not started');
    return this.candidate;
  }

  get counter(): CommandCounter {
    if (!this.counterValue) throw new Error('ClusterFixture not started');
    return this.counterValue;
  }

  /** The leader's command connection (a standalone Redis here). */
  get redis(): Redis {
    return this.leader.redis as Redis;
  }

  async start(): Promise<void> {
    const { redis: server } = this.options;
    this.candidate = await startCandidate({
      url: server.url,
      keys: this.keys,
      nodeId: 'bench-leader',
      leaseMs: 600_000,
      renewMs: 120_000,
      policy: { failurePolicy: 'any', threshold: 12, intervalMs: INTERVAL_MS },
      withAggregator: true,
      sweepMs: this.options.sweepMs ?? 600_000,
    });
    this.counterValue = new CommandCounter(this.redis);
    await writeCredential(this.redis, this.keys, 'acme', 1);
    await this.writeNodes();
    if (!this.leader.election.isLeader) throw new Error('the benchmark leader was not elected');
    // The first round (run on election) is not measured.
    await this.leader.aggregator?.refresh();
  }

  /** 90 % healthy, 5 % in a failure streak, 5 % stale: every rule of the view is exercised. */
  private async writeNodes(): Promise<void> {
    const now = Date.now();
    const redis = this.redis;
    for (let start = 0; start < this.ids.length; start += 1000) {
      const pipeline = redis.pipeline();
      for (const id of this.ids.slice(start, start + 1000)) {
        const i = Number(id.slice(5));
        const failing = i % 20 === 7;
        const stale = i % 20 === 13;
        const lastAttemptAt = stale ? now - 3 * INTERVAL_MS : now - (i % 600) * 1000;
        const why = failing ? reason(30002, 'INCORRECT_PASSWORD_ERROR', lastAttemptAt - INTERVAL_MS) : null;
        const fields: Record<string, string> = {
          consecutiveFailures: failing ? '2' : '0',
          reason: why ? JSON.stringify(why) : '',
          latestReason: why ? JSON.stringify(why) : '',
          attemptsTotal: '40',
          failuresTotal: failing ? '2' : '0',
          generation: '1',
          lastAttemptAt: String(lastAttemptAt),
          lastAttemptId: `slot:${lastAttemptAt}`,
          licenseExpiresAt: String(now + 90 * 86_400_000),
          licenseCapacity: String(this.ids.length + 10),
          licenseBound: String(this.ids.length),
        };
        if (!failing) fields.lastSuccessAt = String(lastAttemptAt);
        pipeline.zadd(this.keys.nodes, 'NX', now - INTERVAL_MS, id);
        pipeline.hset(this.keys.node(id), fields);
      }
      await pipeline.exec();
    }
  }

  /** The baseline read: one pipelined HGETALL of every node key, ids known beforehand. */
  async rawRead(): Promise<number> {
    const pipeline = this.redis.pipeline();
    for (const id of this.ids) pipeline.hgetall(this.keys.node(id));
    const results = await pipeline.exec();
    return results?.length ?? 0;
  }

  async close(): Promise<void> {
    await this.candidate?.close();
  }
}
