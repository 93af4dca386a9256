import fc from 'fast-check';
import Redis from 'ioredis';
import { ProjectViewReader } from '../../daemon/view/project-view';
import type { FailurePolicy } from '../../daemon/view/compute-view';
import { ProjectKeys } from '../../shared/redis/keys';
import { fuzzParameters, fuzzSeed } from '../support/fuzz';
import { reason, writeCredential, writeNodeRecord } from '../../harness/node-records';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { silentLog } from '../../harness/sidecar-parts';

/**
 * The property of the rule (SPEC R5, R6): for random projects — a policy, a
 * threshold, and members that are ok, failing (below or at the threshold), stale,
 * missing (in the nodes set, no record) or unreadable (a reason that is not JSON, a
 * key of the wrong type) — the project is `failed` exactly when the policy's count of
 * members whose *recorded* streak reached the threshold says so, every member counted
 * in the denominator and every unknown one as not failed. Read through the real
 * reader from a real Redis, so the classification of missing and unreadable records
 * is part of what is checked. A fast-check property: a failure is shrunk to a small
 * project and printed with its seed; `FUZZ_SEED=<seed>` replays it (test/support/fuzz.ts).
 */
const CASES = 120;
const INTERVAL_MS = 60_000;
const POLICIES: FailurePolicy[] = ['any', 'all', 'majority'];
type Kind = 'ok' | 'failing' | 'failed' | 'stale' | 'staleFailed' | 'missing' | 'unreadableJson' | 'wrongType';
const KINDS: Kind[] = ['ok', 'failing', 'failed', 'stale', 'staleFailed', 'missing', 'unreadableJson', 'wrongType'];

let redis: Redis;

beforeAll(async () => {
  redis = new Redis((await startRedis()).url);
});

afterAll(async () => {
  redis?.disconnect();
  await disposeAllRedis();
});

function needed(policy: FailurePolicy, total: number): number {
  if (policy === 'any') return 1;
  if (policy === 'all') return Math.max(total, 1);
  return Math.floor(total / 2) + 1;
}

interface Member {
  kind: Kind;
  /** A failed member's streak is the threshold plus this (0–2); a failing one's is this, below the threshold. */
  streak: number;
}

interface Project {
  policy: FailurePolicy;
  threshold: number;
  members: Member[];
}

/** A policy, a threshold of 1–6 and 1–7 members of any kind, each with a streak that fits its kind. */
const PROJECT: fc.Arbitrary<Project> = fc
  .record({ policy: fc.constantFrom(...POLICIES), threshold: fc.integer({ min: 1, max: 6 }) })
  .chain(({ policy, threshold }) =>
    fc
      .array(
        fc.constantFrom(...KINDS).chain((kind) => {
          const streak =
            kind === 'failed' || kind === 'staleFailed'
              ? fc.integer({ min: threshold, max: threshold + 2 })
              : kind === 'failing' || kind === 'stale'
                ? fc.integer({ min: 0, max: threshold - 1 })
                : fc.constant(0);
          return streak.map((s) => ({ kind, streak: s }));
        }),
        { minLength: 1, maxLength: 7, size: 'max' },
      )
      .map((members) => ({ policy, threshold, members })),
  );

it(`never fails a project the policy's count of recorded failures does not fail (${CASES} random projects, seed ${fuzzSeed()})`, async () => {
  const [s, us] = await redis.time();
  const now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
  let c = 0;
  await fc.assert(
    fc.asyncProperty(PROJECT, async ({ policy, threshold, members }) => {
      // A prefix of its own for every run, shrinking included.
      const keys = new ProjectKeys(testPrefix(`prop${c++}`), 'p');
      await writeCredential(redis, keys);
      const kinds = members.map((m) => m.kind);
      let recordedFailed = 0;
      let recordedStreak = false;
      for (const [i, { kind, streak }] of members.entries()) {
        const id = `n${i}`;
        const stale = kind === 'stale' || kind === 'staleFailed';
        const lastAttemptAt = stale ? now - 5 * INTERVAL_MS : now - 1000;
        if (kind === 'missing') {
          await redis.zadd(keys.nodes, 1, id);
          continue;
        }
        await writeNodeRecord(redis, keys, {
          id,
          consecutiveFailures: streak,
          reason: streak > 0 ? reason(30003, 'LICENSE_IP_ERROR', lastAttemptAt) : null,
          lastAttemptAt,
          lastSuccessAt: streak === 0 ? lastAttemptAt : null,
        });
        if (kind === 'unreadableJson') {
          // A streak at the threshold that cannot be read is still unknown, never failed.
          await redis.hset(keys.node(id), { consecutiveFailures: String(threshold), latestReason: '{broken' });
          continue;
        }
        if (kind === 'wrongType') {
          await redis.del(keys.node(id));
          await redis.set(keys.node(id), 'junk');
          continue;
        }
        if (streak >= threshold) recordedFailed += 1;
        if (streak > 0) recordedStreak = true;
      }
      const view = await new ProjectViewReader({ redis, keys, policy: { failurePolicy: policy, threshold, intervalMs: INTERVAL_MS }, log: silentLog }).read();
      const label = JSON.stringify({ policy, threshold, kinds, recordedFailed, status: view.computedStatus });
      const shouldFail = recordedFailed >= needed(policy, kinds.length);
      expect({ label, failed: view.computedStatus === 'failed' }).toEqual({ label, failed: shouldFail });
      if (!shouldFail && view.nodes.length > 0)
        expect({ label, status: view.computedStatus }).toEqual({ label, status: recordedStreak ? 'degraded' : 'registered' });
      // Every member is in the view, as a node or as an unknown member.
      expect({ label, counted: view.nodes.length + (view.unknownMembers ?? []).length }).toEqual({ label, counted: kinds.length });
    }),
    fuzzParameters(CASES),
  );
  expect(c).toBeGreaterThanOrEqual(CASES);
});
