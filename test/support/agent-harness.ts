import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { Agent } from '../../daemon/agent/agent';
import { queueName } from '../../daemon/agent/schedule';
import { NodeMetrics } from '../../daemon/metrics/node-metrics';
import type { Config } from '../../shared/config/compile';
import { loadConfig } from '../../shared/config/load';
import { createLogger } from '../../shared/logger';
import { closeRedis, createRedis, type RedisClient } from '../../shared/redis/connection';
import { ProjectKeys } from '../../shared/redis/keys';
import { FakeClock } from '../../harness/fake-clock';
import { HeldAuthClient, OK_ANSWER } from './held-auth-client';
import { waitFor } from '../../harness/wait';
import { testPrefix } from '../../harness/redis-server';

/**
 * One node agent in this process, as the daemon builds it, on a real Redis and a real
 * BullMQ, with the agent's own time (slot timer, close grace, backoff, budget) on a
 * fake clock and the authorization server's answers given by the test. For the agent's
 * decisions; what needs a process (signals, a crash, several sidecars) stays in the
 * sidecar tests.
 */

export interface AgentUnderTest {
  agent: Agent;
  config: Config;
  keys: ProjectKeys;
  clock: FakeClock;
  auth: HeldAuthClient;
  redis: RedisClient;
  registry: Registry;
  /** The agent's log lines so far (msg fields). */
  logs(): string[];
  /** The agent's log lines so far, whole (every field). */
  logEntries(): Array<Record<string, unknown>>;
  /** The node's BullMQ queue, for looking at its jobs. */
  queue(): Queue;
  /** Closes the agent and its connections (idempotent). */
  close(): Promise<void>;
}

export interface AgentSetup {
  redisUrl: string;
  keyPrefix: string;
  nodeId?: string;
  interval?: string;
  journalDir?: string;
  closeGraceMs?: number;
  /** The clock to run on (shared by a restarted agent); a new one at Redis' time by default. */
  clock?: FakeClock;
  auth?: HeldAuthClient;
}

const open: AgentUnderTest[] = [];

/** Stores a credential as `register` does (the agent never opens it here: decrypt is given). */
export async function storeCredential(redis: RedisClient, keys: ProjectKeys, generation = 1): Promise<void> {
  await redis.hset(keys.credential, {
    account: 'acct',
    ciphertext: 'c',
    algorithm: 'rsa',
    keyId: 'k',
    generation: String(generation),
    registeredAt: '1700000000000',
  });
}

export async function startAgent(setup: AgentSetup): Promise<AgentUnderTest> {
  const nodeId = setup.nodeId ?? 'n1';
  const journalDir = setup.journalDir ?? mkdtempSync(path.join(os.tmpdir(), 'fdl-agent-'));
  const config = loadConfig({
    env: {
      CLOUDAUTH_PROJECT: 'p',
      CLOUDAUTH_NODE_ID: nodeId,
      CLOUDAUTH_NODE_IP: '127.0.0.1',
      CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
      CLOUDAUTH_AUTH_SERVER_URL: 'http://127.0.0.1:1',
      CLOUDAUTH_REDIS_URL: setup.redisUrl,
      CLOUDAUTH_REDIS_KEY_PREFIX: setup.keyPrefix,
      CLOUDAUTH_KEY_DIR: journalDir,
      CLOUDAUTH_JOURNAL_DIR: journalDir,
      CLOUDAUTH_HEARTBEAT_INTERVAL: setup.interval ?? '1h',
    },
    require: ['daemon'],
  });
  const keys = new ProjectKeys(config.redis.keyPrefix, config.project);
  const redis = createRedis(config.redis, { purpose: 'command', lazyConnect: true });
  const bull = createRedis(config.redis, { purpose: 'bullmq', lazyConnect: true });
  for (const c of [redis, bull]) c.on('error', () => undefined);
  await Promise.all([redis, bull].map((c) => c.connect().catch(() => undefined)));
  const clock = setup.clock ?? new FakeClock(Date.now());
  const auth = setup.auth ?? new HeldAuthClient();
  const lines: string[] = [];
  const entries: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write: (chunk: Buffer, _e, cb) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          const entry = JSON.parse(line) as Record<string, unknown> & { msg: string };
          entries.push(entry);
          lines.push(entry.msg);
        }
        cb();
      },
    }),
  });
  const registry = new Registry();
  const queues: Queue[] = [];
  let closed: Promise<void> | undefined;
  const under: AgentUnderTest = {
    agent: undefined as unknown as Agent,
    config,
    keys,
    clock,
    auth,
    redis,
    registry,
    logs: () => [...lines],
    logEntries: () => [...entries],
    queue: () => {
      const q = new Queue(queueName(nodeId), { connection: bull, prefix: keys.bullPrefix });
      queues.push(q);
      return q;
    },
    close: () =>
      (closed ??= (async () => {
        // The close grace and the bounded steps run on the fake clock: let them pass.
        const closing = under.agent.close();
        while (!(await Promise.race([closing.then(() => true), clock.advance(1000).then(() => false)])));
        for (const q of queues) await q.close();
        await Promise.all([closeRedis(redis), closeRedis(bull)]);
      })()),
  };
  const metrics = new NodeMetrics(registry, config.project, nodeId, {
    journalPending: () => under.agent.journalPending,
    redisUp: () => redis.status === 'ready',
    localStateWritable: () => under.agent.disk.writable,
  });
  under.agent = new Agent({
    config,
    keys,
    redis,
    bullConnection: bull,
    authClient: auth.client,
    decrypt: async () => 'pässword',
    metrics,
    clock,
    timers: clock,
    logger,
    closeGraceMs: setup.closeGraceMs,
  });
  open.push(under);
  await under.agent.start();
  return under;
}

/**
 * An agent on a stored credential, the server answering OK, once its catch-up attempt
 * is recorded: where a test of what the agent does next starts. Keys under a fresh
 * prefix named `name`.
 */
export async function startCaughtUpAgent(suite: { url: string; admin: RedisClient }, name: string): Promise<{ a: AgentUnderTest; keys: ProjectKeys }> {
  const keyPrefix = testPrefix(name);
  const keys = new ProjectKeys(keyPrefix, 'p');
  await storeCredential(suite.admin, keys);
  const a = await startAgent({ redisUrl: suite.url, keyPrefix });
  a.auth.auto = OK_ANSWER;
  await waitFor('the catch-up recorded', async () => (await suite.admin.zcard(keys.attempts('n1'))) === 1, 10_000, 20);
  return { a, keys };
}

/** Closes every agent the tests started (afterAll). */
export async function closeAllAgents(): Promise<void> {
  for (const a of open.splice(0)) await a.close();
}
