import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { AttemptFlow } from '../../daemon/agent/attempt-flow';
import { LocalDisk } from '../../daemon/agent/local-disk';
import { AttemptRunner, type AttemptRunnerOptions } from '../../daemon/agent/attempt-runner';
import { LocalState } from '../../daemon/agent/local-state';
import { Recovery } from '../../daemon/agent/recovery';
import { ResultSink } from '../../daemon/agent/result-sink';
import type { Config } from '../../shared/config/compile';
import { createLogger } from '../../shared/logger';
import { ProjectKeys } from '../../shared/redis/keys';
import { FakeClock, settle } from '../../harness/fake-clock';
import { HeldAuthClient, OK_ANSWER } from '../support/held-auth-client';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { cachedCredential } from '../support/cached-credential';

/**
 * One attempt from plan to result, on a fake clock: a slot BullMQ's job is still
 * attempting when the slot timer takes it too (Redis went away meanwhile) is asked of
 * the server once; and offline attempts go to the journal at the time the node
 * estimates for Redis.
 */

let redis: Redis;
const log = createLogger({ level: 'silent' });

beforeAll(async () => {
  redis = new Redis((await startRedis()).url);
});

afterAll(async () => {
  redis?.disconnect();
  await disposeAllRedis();
});

function flow() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-flow-'));
  const keys = new ProjectKeys(testPrefix('flow'), 'p');
  const clock = new FakeClock();
  const auth = new HeldAuthClient();
  const disk = new LocalDisk(dir, log);
  const local = new LocalState(disk, 'n1');
  // What the node learnt at its last read of Redis: the credential, and Redis' clock 1 s behind.
  local.update({ credential: cachedCredential({ generation: 1 }), redisClockOffsetMs: -1000 });
  const recovery = new Recovery({ redis, keys, nodeId: 'n1', local, log, onRestored: () => undefined });
  const sink = new ResultSink({ redis, keys, nodeId: 'n1', disk, local, recovery, log });
  const config = {
    project: 'p',
    node: { id: 'n1', ip: '10.0.0.1', domain: 'd', appName: 'a' },
    product: { version: '4.1.5' },
    heartbeat: { intervalMs: 3_600_000, retries: 0, failureThreshold: 12 },
    crypto: { keyDir: dir },
  };
  const runner = new AttemptRunner({
    config: config as AttemptRunnerOptions['config'],
    authClient: auth.client,
    decrypt: async () => 'pw',
    metrics: { attemptFinished: () => undefined },
    clock,
    timers: clock,
    log,
  });
  const f = new AttemptFlow({
    config: config as unknown as Config,
    redis,
    keys,
    local,
    recovery,
    runner,
    sink,
    clock,
    log,
    signal: new AbortController().signal,
  });
  return { f, auth, sink, clock, local };
}

it('asks the server once for an attempt already under way in this process, and journals it once', async () => {
  const { f, auth, sink } = flow();
  const first = f.offline('slot:3600000');
  await auth.called(1);
  await f.offline('slot:3600000');
  auth.answerNext(OK_ANSWER);
  await first;
  await settle();
  expect(auth.calls).toBe(1);
  expect(sink.pending).toBe(1);
  // Once it ended, the same id may be attempted again (a later BullMQ retry is recorded idempotently).
  auth.auto = OK_ANSWER;
  await f.offline('slot:3600000');
  expect(auth.calls).toBe(2);
});

it('journals an offline attempt at the Redis time the node estimates, and notes its slot', async () => {
  const { f, auth, sink, clock, local } = flow();
  auth.auto = OK_ANSWER;
  await f.offline('slot:7200000');
  expect(sink.pending).toBe(1);
  expect(local.get()).toMatchObject({ lastAttemptAt: clock.now() - 1000, lastSlot: 7_200_000 });
});
