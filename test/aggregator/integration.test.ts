import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import { createLogger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis/connection';
import { CorruptRecordLog } from '../../daemon/view/corrupt-record-log';
import { ProjectViewReader } from '../../daemon/view/project-view';
import { readFailures } from '../../daemon/view/failure-history';
import { UnknownNodeError } from '../../daemon/view/unknown-node-error';
import { testPrefix } from '../../harness/redis-server';
import { waitFor } from '../../harness/wait';
import { startCandidate, DEFAULT_POLICY } from '../../harness/sidecar-parts';
import { useRedisWithCandidates } from '../support/candidate-suite';
import { pushFailure, reason, simulateRegister, writeCredential, writeNodeRecord } from '../../harness/node-records';

const h = useRedisWithCandidates();
const HOUR = 3_600_000;

async function redisNow(): Promise<number> {
  const [s, us] = await h.admin.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

const attempt = (k: ProjectKeys, node: string) =>
  h.admin.publish(k.events, JSON.stringify({ type: 'attempt', node, attemptId: String(Math.random()), ok: true }));

/**
 * Counts round trips: each command sent on its own, and each pipeline exec, is one;
 * the commands queued on a pipeline are not (they travel together).
 */
function countingClient(client: Redis): { client: RedisClient; trips: () => number } {
  let trips = 0;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'pipeline' || prop === 'multi') {
        return (...args: unknown[]) => {
          const pipeline = (value as (...a: unknown[]) => { exec: () => Promise<unknown> }).apply(target, args);
          const exec = pipeline.exec.bind(pipeline);
          pipeline.exec = () => {
            trips += 1;
            return exec();
          };
          return pipeline;
        };
      }
      return (...args: unknown[]) => {
        trips += 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { client: proxy as unknown as RedisClient, trips: () => trips };
}

describe('aggregator on a real Redis', () => {
  it('writes status changes only on change; failed is sticky until register clears it', async () => {
    const k = new ProjectKeys(testPrefix('agg'), 'p1');
    await writeCredential(h.admin, k);
    const now = await redisNow();
    await writeNodeRecord(h.admin, k, { id: 'n1', lastAttemptAt: now, lastSuccessAt: now });
    await writeNodeRecord(h.admin, k, { id: 'n2', lastAttemptAt: now, lastSuccessAt: now });
    const c = await startCandidate({ url: h.server.url, keys: k, nodeId: 'n1', withAggregator: true, policy: { ...DEFAULT_POLICY, threshold: 3 } });
    h.open.push(c);
    await waitFor('registered', async () => (await h.admin.hget(k.status, 'status')) === 'registered');
    const since = await h.admin.hget(k.status, 'since');
    expect(await h.admin.hget(k.status, 'epoch')).toBe(String(c.election.epoch));
    expect(await h.admin.hget(k.status, 'generation')).toBe('1');

    // No change, no write: since stays.
    await c.aggregator?.refresh();
    expect(await h.admin.hget(k.status, 'since')).toBe(since);

    await writeNodeRecord(h.admin, k, { id: 'n2', consecutiveFailures: 2, lastAttemptAt: now, reason: reason(30003, 'LICENSE_IP_ERROR', now) });
    await attempt(k, 'n2');
    await waitFor('degraded', async () => (await h.admin.hget(k.status, 'status')) === 'degraded');

    await writeNodeRecord(h.admin, k, { id: 'n2', consecutiveFailures: 3, lastAttemptAt: now, reason: reason(30003, 'LICENSE_IP_ERROR', now) });
    await attempt(k, 'n2');
    await waitFor('failed', async () => (await h.admin.hget(k.status, 'status')) === 'failed');
    expect(Number(await h.admin.hget(k.status, 'failedAt'))).toBeGreaterThan(0);

    // The node recovers (say, someone fixed its IP), but failed stays until register.
    await writeNodeRecord(h.admin, k, { id: 'n2', lastAttemptAt: now, lastSuccessAt: now });
    await attempt(k, 'n2');
    const view = await c.aggregator?.refresh();
    expect(view?.computedStatus).toBe('registered');
    expect(view?.status).toBe('failed');
    expect(await h.admin.hget(k.status, 'status')).toBe('failed');

    await simulateRegister(h.admin, k);
    // Until a node authenticates under the new registration, the project is unregistered...
    await c.aggregator?.refresh();
    expect(await h.admin.hget(k.status, 'status')).toBe('unregistered');
    // ...and registered once they have (their records carry the new generation).
    for (const id of ['n1', 'n2']) {
      await writeNodeRecord(h.admin, k, { id, lastAttemptAt: now, lastSuccessAt: now, generation: 2 });
      await attempt(k, id);
    }
    await waitFor('registered again', async () => (await h.admin.hget(k.status, 'status')) === 'registered');
    expect(await h.admin.hget(k.status, 'generation')).toBe('2');
    expect(await h.admin.hexists(k.status, 'failedAt')).toBe(0);
    // No write of the one aggregator was refused as stale.
    expect(Number((await h.admin.hget(k.counters, 'staleWritesRejected')) ?? 0)).toBe(0);
  });

  it('marks a silent node stale by the sweep, measured on Redis time', async () => {
    const k = new ProjectKeys(testPrefix('agg'), 'p1');
    await writeCredential(h.admin, k);
    const now = await redisNow();
    await writeNodeRecord(h.admin, k, { id: 'n1', lastAttemptAt: now, lastSuccessAt: now });
    await writeNodeRecord(h.admin, k, {
      id: 'n2',
      consecutiveFailures: 2,
      lastAttemptAt: now - 3 * HOUR - 1000,
      reason: reason(null, 'CONNECTION_FAILED', now - 3 * HOUR),
    });
    const c = await startCandidate({ url: h.server.url, keys: k, nodeId: 'n1', withAggregator: true, sweepMs: 100 });
    h.open.push(c);
    await waitFor('a view', () => c.aggregator?.latestView);
    const view = c.aggregator?.latestView;
    expect(view?.nodes.map((n) => [n.id, n.status])).toEqual([
      ['n1', 'ok'],
      ['n2', 'stale'],
    ]);
    // A stale node keeps its recorded streak (R5, R6): the project stays degraded, and the
    // streak is still shown.
    expect(view?.nodes[1]?.consecutiveFailures).toBe(2);
    expect(view?.status).toBe('degraded');
  });

  it('skips a corrupt node record, logs it once and counts it once per content', async () => {
    const k = new ProjectKeys(testPrefix('agg'), 'p1');
    await writeCredential(h.admin, k);
    const now = await redisNow();
    await writeNodeRecord(h.admin, k, { id: 'good', lastAttemptAt: now, lastSuccessAt: now });
    await h.admin.zadd(k.nodes, 1, 'bad');
    await h.admin.hset(k.node('bad'), { consecutiveFailures: 'many', reason: '{not json' });
    const lines: string[] = [];
    const log = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    const reader = new ProjectViewReader({ redis: h.admin, keys: k, policy: DEFAULT_POLICY, log });
    for (let i = 0; i < 3; i++) {
      const view = await reader.read();
      expect(view.nodes.map((n) => n.id)).toEqual(['good']);
      expect(view.status).toBe('registered');
    }
    expect(reader.corrupt.total).toBe(1);
    expect(lines.filter((l) => l.includes('does not parse'))).toHaveLength(1);
    expect(lines.join('')).toContain('"id":"bad"');
    // Counted in Redis for the whole project: a second reader (another sidecar, the
    // CLI) finding the same record adds nothing, and every view carries the total.
    expect(await h.admin.hget(k.counters, 'corruptRecords')).toBe('1');
    const otherReader = new ProjectViewReader({ redis: h.admin, keys: k, policy: DEFAULT_POLICY, log });
    expect((await otherReader.read()).corruptRecords).toBe(1);
    expect(otherReader.corrupt.total).toBe(1);
    expect(await h.admin.hget(k.counters, 'corruptRecords')).toBe('1');

    await h.admin.hset(k.node('bad'), 'consecutiveFailures', 'still-bad');
    // Found first by the other reader: the first one's view has it too.
    expect((await otherReader.read()).corruptRecords).toBe(2);
    expect((await reader.read()).corruptRecords).toBe(2);
    await reader.read();
    expect(reader.corrupt.total).toBe(2);
    expect(await h.admin.hget(k.counters, 'corruptRecords')).toBe('2');

    // A broken failure-history entry found by `failures` counts in the same total.
    await h.admin.zadd(k.nodes, 2, 'good');
    await h.admin.lpush(k.history('good'), '{broken');
    await readFailures(h.admin, k, { limit: 10 }, new CorruptRecordLog(log));
    expect((await reader.read()).corruptRecords).toBe(3);
  });

  it('reads the cluster in the same number of round trips for 10 and 1000 nodes', async () => {
    const trips: number[] = [];
    for (const count of [10, 1000]) {
      const k = new ProjectKeys(testPrefix('rt'), 'p1');
      await writeCredential(h.admin, k);
      const now = await redisNow();
      for (let i = 0; i < count; i += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, count - i) }, (_, j) =>
            writeNodeRecord(h.admin, k, { id: `node-${i + j}`, lastAttemptAt: now, lastSuccessAt: now }),
          ),
        );
      }
      const counted = countingClient(h.admin);
      const reader = new ProjectViewReader({ redis: counted.client, keys: k, policy: DEFAULT_POLICY, log: createLogger({ level: 'silent' }) });
      const view = await reader.read();
      expect(view.nodes).toHaveLength(count);
      expect(view.status).toBe('registered');
      trips.push(counted.trips());

      const before = counted.trips();
      await readFailures(counted.client, k, { limit: 50 });
      trips.push(counted.trips() - before);
    }
    // [view 10, failures 10, view 1000, failures 1000]
    expect(trips).toEqual([2, 2, 2, 2]);
  });

  it('lists failures newest first across nodes, by node, with a clear error for an unknown node', async () => {
    const k = new ProjectKeys(testPrefix('fail'), 'p1');
    const now = await redisNow();
    await writeNodeRecord(h.admin, k, { id: 'n1', consecutiveFailures: 2, lastAttemptAt: now });
    await writeNodeRecord(h.admin, k, { id: 'n2', consecutiveFailures: 1, lastAttemptAt: now });
    await pushFailure(h.admin, k, 'n1', reason(30003, 'LICENSE_IP_ERROR', now - 3000, { attemptId: 'n1-a' }));
    await pushFailure(h.admin, k, 'n2', reason(null, 'CONNECTION_FAILED', now - 2000, { attemptId: 'n2-a' }));
    await pushFailure(h.admin, k, 'n1', reason(30007, 'REGISTER_OUT_OF_LIMIT', now - 1000, { attemptId: 'n1-b' }));
    await h.admin.lpush(k.history('n2'), 'garbage');
    const all = await readFailures(h.admin, k, { limit: 50 });
    expect(all.map((e) => e.attemptId)).toEqual(['n1-b', 'n2-a', 'n1-a']);
    expect(all[1]).toMatchObject({ node: 'n2', code: null, name: 'CONNECTION_FAILED' });
    expect((await readFailures(h.admin, k, { limit: 2 })).map((e) => e.attemptId)).toEqual(['n1-b', 'n2-a']);
    expect((await readFailures(h.admin, k, { node: 'n1', limit: 50 })).map((e) => e.attemptId)).toEqual(['n1-b', 'n1-a']);
    await expect(readFailures(h.admin, k, { node: 'n9', limit: 50 })).rejects.toBeInstanceOf(UnknownNodeError);
  });
});
