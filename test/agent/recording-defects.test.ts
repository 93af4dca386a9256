import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { Aggregator, type AggregatorOptions } from '../../daemon/aggregator/aggregator';
import { noteVerdict, readBeforeAttempt, rememberRead } from '../../daemon/agent/attempt-plan';
import { AttemptFlow } from '../../daemon/agent/attempt-flow';
import type { AttemptResult } from '../../daemon/agent/attempt-recorder';
import type { AttemptRunner } from '../../daemon/agent/attempt-runner';
import { Journal, type JournalEntry } from '../../daemon/agent/journal';
import { LocalDisk } from '../../daemon/agent/local-disk';
import { LocalState, type CachedCredential } from '../../daemon/agent/local-state';
import { Recovery } from '../../daemon/agent/recovery';
import { ResultSink } from '../../daemon/agent/result-sink';
import { switchCredential } from '../../daemon/credentials/credential-switch';
import { readCredential } from '../../daemon/credentials/credential-store';
import { registerCredential, type RegisterResult } from '../../daemon/credentials/register-credential';
import type { Outcome } from '../../daemon/protocol/classify';
import type { ViewPolicy } from '../../daemon/view/compute-view';
import { ProjectViewReader } from '../../daemon/view/project-view';
import { systemClock } from '../../shared/clock';
import type { Config } from '../../shared/config/compile';
import { createLogger } from '../../shared/logger';
import { ProjectKeys } from '../../shared/redis/keys';
import { HISTORY_MIN_AGE_MS } from '../../shared/redis/records';
import { writeKeyPairs } from '../support/key-dirs';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { realTime, silentLog, startCandidate } from '../../harness/sidecar-parts';
import { waitFor } from '../../harness/wait';

/**
 * What recording an attempt must never do, on a real Redis through the real scripts
 * and parts (attempt flow, result sink, recovery, local state, journal, register,
 * crypto switch, the view reader, the leader's aggregator):
 *
 * - let a streak recorded under one registration count under a newer one, when the
 *   newer one was made into an emptied Redis or over a deleted credential and its
 *   generation number started again (R5: registrations are told apart by identity);
 * - take a counter another tool wrote as a float (`2.0`, `1e3`) for a number, fail
 *   halfway on it, or carry it in what the node holds (SPEC §4: repaired from what the
 *   node holds, never written halfway);
 * - let the leader write a status that is not `failed` between a FLUSHALL and the
 *   nodes' restore of a failed project (R5: a loss is repaired before any verdict);
 * - count results again because their attempt ids were lost while the record was kept
 *   (R2: one attempt counts once);
 * - let a restore put back a ciphertext older than one `crypto switch` made (R5: a
 *   restore never brings back an older ciphertext);
 * - record again results older than the 30-day idempotency horizon, or record a
 *   journaled one silently to have its id trimmed at once (R2, R4);
 * - keep only the newest result in a journal whose directory was removed (SPEC §4).
 *
 * Each test has its own key prefix (those that FLUSHALL read what they need before the
 * next test starts) and stops everything it starts.
 */
jest.setTimeout(60_000);

const DAY = 86_400_000;
const FAIL: Outcome = { ok: false, code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip not allowed', transient: false };
const OK: Outcome = { ok: true, license: { expiresAt: null, capacity: 5, bound: 1 } };
/** Every numeric field of a node record (shared/redis/records.ts). */
const NUMERIC_FIELDS = [
  'consecutiveFailures',
  'attemptsTotal',
  'failuresTotal',
  'lastAttemptAt',
  'lastSuccessAt',
  'generation',
  'licenseExpiresAt',
  'licenseCapacity',
  'licenseBound',
];

let server: TestRedis;
let admin: Redis;
let keyDir: string;
/** What the running test started, stopped after it (last started, first stopped). */
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  keyDir = writeKeyPairs(mkdtempSync(path.join(os.tmpdir(), 'fdl-defects-keys-')));
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

afterAll(async () => {
  admin?.disconnect();
  await disposeAllRedis();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

const newKeys = (label: string) => new ProjectKeys(testPrefix(label), 'p');

function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `fdl-defects-${label}-`));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A logger whose lines (raw JSON) are kept in `lines`. */
function capturingLogger(lines: string[]) {
  return createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    }),
  });
}

/** `fdl-cloudauth register` (RSA unless the project's credential says otherwise). */
const register = (keys: ProjectKeys): Promise<RegisterResult> =>
  registerCredential(admin, keys, { account: 'acct', password: 'pässword-1', keyDir, defaultAlgorithm: 'rsa' });

const redisNow = async (): Promise<number> => {
  const [s, us] = await admin.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
};

interface TestNode {
  id: string;
  keys: ProjectKeys;
  redis: Redis;
  disk: LocalDisk;
  local: LocalState;
  recovery: Recovery;
  sink: ResultSink;
  /** The agent's attempt flow; the server's answer is `answer`, the credentials it was asked with are in `usedCredentials`. */
  flow: AttemptFlow;
  answer: Outcome;
  usedCredentials: CachedCredential[];
  /** The node's log lines (raw JSON). */
  lines: string[];
}

/**
 * One node's recording parts, wired as agent/agent-parts.ts wires them (one LocalDisk
 * for the journal and the state, the recovery step shared by the flow and the sink),
 * with the server's answer given by the test instead of an AttemptRunner.
 */
async function startNode(keys: ProjectKeys, id: string): Promise<TestNode> {
  // As the agent's command connection: fails fast instead of queueing while Redis is away.
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
  closers.push(() => redis.disconnect());
  await new Promise((resolve) => redis.once('ready', resolve));
  const lines: string[] = [];
  const log = capturingLogger(lines);
  const disk = new LocalDisk(tempDir(`node-${id}`), log);
  const local = new LocalState(disk, id);
  const recovery = new Recovery({ redis, keys, nodeId: id, local, log, onRestored: () => undefined });
  const sink = new ResultSink({ redis, keys, nodeId: id, disk, local, recovery, log });
  const node = { id, keys, redis, disk, local, recovery, sink, answer: FAIL, usedCredentials: [] as CachedCredential[], lines } as TestNode;
  const runner = {
    run: async (credential: CachedCredential): Promise<Outcome> => {
      node.usedCredentials.push(credential);
      return node.answer;
    },
  } as unknown as AttemptRunner;
  const config = { node: { id }, crypto: { keyDir } } as unknown as Config;
  node.flow = new AttemptFlow({ config, redis, keys, local, recovery, runner, sink, clock: systemClock, log, signal: new AbortController().signal });
  return node;
}

/** What the node learns from its read before an attempt (attempt-plan.ts): the credential, the members, the verdict. */
async function readProject(node: TestNode): Promise<void> {
  rememberRead(await readBeforeAttempt(node.redis, node.keys, node.id, 'read'), node.local, Date.now());
}

/**
 * A failure as attempt-flow.ts builds the result, from the credential the node holds:
 * its generation, and the registration's identity where the credential carries one
 * (a field the fix of R5 may add; copied only when present).
 */
function failedWith(node: TestNode, attemptId: string, atMs?: number): AttemptResult {
  const credential = node.local.get().credential as (CachedCredential & { registration?: string }) | null;
  if (!credential) throw new Error(`${node.id} holds no credential: readProject first`);
  const { registration } = credential;
  return { nodeId: node.id, attemptId, generation: credential.generation, ...(registration ? { registration } : {}), atMs, outcome: FAIL };
}

const readView = (keys: ProjectKeys, policy: ViewPolicy) => new ProjectViewReader({ redis: admin, keys, policy, log: silentLog }).read();

/** The fields of a node hash that should hold a whole number and do not. */
const nonIntegers = (record: Record<string, string> | null | undefined): string[] =>
  Object.entries(record ?? {})
    .filter(([field, value]) => NUMERIC_FIELDS.includes(field) && value !== '' && !/^-?\d+$/.test(value))
    .map(([field, value]) => `${field}=${value}`);

/** How many entries of the node's failure history are of this attempt. */
const historyCopies = async (keys: ProjectKeys, nodeId: string, attemptId: string): Promise<number> =>
  (await admin.lrange(keys.history(nodeId), 0, -1)).filter((e) => (JSON.parse(e) as { attemptId: string }).attemptId === attemptId).length;

describe('a new registration does not inherit the streaks of the one it replaced', () => {
  const THRESHOLD_4: ViewPolicy = { failurePolicy: 'any', threshold: 4, intervalMs: 7_200_000 };

  /**
   * n1 fails 3 times under registration A; Redis then loses the credential (`loseIt`)
   * and `register` runs again with the same account and password (generation 1 again);
   * n1's next attempt, through its real flow (read, recovery step, the credential read
   * now), fails. The flow builds the result itself, so it carries whatever identity of
   * the registration the credential has; registeredAt (new at every register) shows
   * the attempt used B's credential.
   */
  async function replayAcrossRegistrations(label: string, loseIt: (keys: ProjectKeys) => Promise<unknown>) {
    const keys = newKeys(label);
    const a = await register(keys);
    const n1 = await startNode(keys, 'n1');
    for (const i of [1, 2, 3]) await n1.flow.online(`${label}-a${i}`);
    expect(await admin.hget(keys.node('n1'), 'consecutiveFailures')).toBe('3');

    await loseIt(keys);
    const b = await register(keys);
    // The numbering started again: only the identity tells B from A.
    expect(b.generation).toBe(a.generation);
    await n1.flow.online(`${label}-a4`);
    // The fourth attempt was made with B's credential.
    expect(n1.usedCredentials.at(-1)?.registeredAt).toBe(b.registeredAt);

    const view = await readView(keys, THRESHOLD_4);
    return {
      consecutiveFailures: await admin.hget(keys.node('n1'), 'consecutiveFailures'),
      nodeStatus: view.nodes.find((n) => n.id === 'n1')?.status,
      projectStatus: view.status,
    };
  }

  const FRESH_STREAK = { consecutiveFailures: '1', nodeStatus: expect.not.stringMatching(/^failed$/), projectStatus: expect.not.stringMatching(/^failed$/) };

  it('after FLUSHALL and register, the next failure is the first of a new streak (not the fourth)', async () => {
    expect(await replayAcrossRegistrations('reg-flush', () => admin.flushall())).toEqual(FRESH_STREAK);
  });

  it('after the credential key alone was deleted and register ran, the next failure is the first of a new streak', async () => {
    expect(await replayAcrossRegistrations('reg-delcred', (keys) => admin.del(keys.credential))).toEqual(FRESH_STREAK);
  });
});

describe('a counter written as a float by another tool', () => {
  it('is repaired from what the node holds: the failure is recorded once, in Redis, and every number stays an integer', async () => {
    const cases: Array<[string, string]> = [
      ['consecutiveFailures', '2.0'],
      ['consecutiveFailures', '1e3'],
      ['attemptsTotal', '2.0'],
    ];
    const observed: Record<string, unknown> = {};
    const expected: Record<string, unknown> = {};
    for (const [field, value] of cases) {
      const keys = newKeys('float');
      await register(keys);
      const n1 = await startNode(keys, 'n1');
      await readProject(n1);
      await n1.sink.write(failedWith(n1, 'f1'), Date.now());
      await n1.sink.write(failedWith(n1, 'f2'), Date.now());
      await admin.hset(keys.node('n1'), field, value);

      const written = await n1.sink.write(failedWith(n1, 'f3'), Date.now());
      const record = await admin.hgetall(keys.node('n1'));
      observed[`${field} ${value}`] = {
        where: written.where,
        journaled: n1.sink.pending,
        consecutiveFailures: record.consecutiveFailures,
        attemptsTotal: record.attemptsTotal,
        failuresTotal: record.failuresTotal,
        f3Recorded: (await admin.zscore(keys.attempts('n1'), 'f3')) !== null,
        f3InHistory: await historyCopies(keys, 'n1', 'f3'),
        nonIntegersInRedis: nonIntegers(record),
        nonIntegersHeld: nonIntegers(n1.local.get().nodeRecord),
      };
      expected[`${field} ${value}`] = {
        where: 'redis',
        journaled: 0,
        consecutiveFailures: '3',
        attemptsTotal: '3',
        failuresTotal: '3',
        f3Recorded: true,
        f3InHistory: 1,
        nonIntegersInRedis: [],
        nonIntegersHeld: [],
      };
    }
    expect(observed).toEqual(expected);
  });

  it('held by the node (its record carries 2.0), is not brought back into Redis when the record is restored', async () => {
    const keys = newKeys('float-held');
    await register(keys);
    const n1 = await startNode(keys, 'n1');
    await readProject(n1);
    await n1.sink.write(failedWith(n1, 'f1'), Date.now());
    await n1.sink.write(failedWith(n1, 'f2'), Date.now());
    // What the node holds after a recording returned a record another tool had written floats into.
    const held = n1.local.get().nodeRecord as Record<string, string>;
    n1.local.update({ nodeRecord: { ...held, consecutiveFailures: '2.0', attemptsTotal: '2.0' } });
    await admin.del(keys.node('n1'));

    const written = await n1.sink.write(failedWith(n1, 'f3'), Date.now());
    const record = await admin.hgetall(keys.node('n1'));
    // Whether the held 2.0 is repaired (to 2, making the streak 3) or left out of the
    // restored record is not pinned here: only that no float comes back and f3 counts once.
    expect({
      where: written.where,
      f3Recorded: (await admin.zscore(keys.attempts('n1'), 'f3')) !== null,
      f3InHistory: await historyCopies(keys, 'n1', 'f3'),
      nonIntegersInRedis: nonIntegers(record),
      nonIntegersHeld: nonIntegers(n1.local.get().nodeRecord),
    }).toEqual({ where: 'redis', f3Recorded: true, f3InHistory: 1, nonIntegersInRedis: [], nonIntegersHeld: [] });
  });
});

it('FLUSHALL with every connection open never lets the leader write a status other than `failed` for a failed project', async () => {
  const keys = newKeys('flush-failed');
  await register(keys);
  const n1 = await startNode(keys, 'n1');
  const n2 = await startNode(keys, 'n2');
  const policy: ViewPolicy = { failurePolicy: 'any', threshold: 2, intervalMs: 7_200_000 };
  // n1's sidecar is the leader: its election, subscriber and view reader as the daemon wires them.
  const leader = await startCandidate({ url: server.url, keys, nodeId: 'n1', policy });
  closers.push(() => leader.close());
  // The leader's own node recovery step, run before it writes any status (the
  // Aggregator's `recover` option; R5: "a loss of Redis data is repaired before any
  // verdict is written, whoever notices it first"). An Aggregator without the option
  // ignores it.
  const options: AggregatorOptions = {
    redis: leader.redis,
    events: leader.events,
    election: leader.election,
    reader: leader.reader,
    log: silentLog,
    debounceMs: 20,
    sweepMs: 200,
    ...realTime,
    recover: () => n1.recovery.restore(),
  };
  const aggregator = new Aggregator(options);
  aggregator.start();
  closers.push(() => aggregator.close());

  n2.answer = OK;
  await n2.flow.online('n2-a1');
  await n1.flow.online('n1-a1');
  await n1.flow.online('n1-a2');
  await waitFor('the leader to write `failed`', async () => (await admin.hget(keys.status, 'status')) === 'failed', 15_000, 20);
  // As Agent.hear does on the `failed` status event: every node holds the verdict.
  for (const n of [n1, n2]) await noteVerdict(n.redis, keys, n.local);
  expect(n1.local.get().verdict).not.toBeNull();

  // Every status the leader writes from now on (write-status-5.lua publishes each one);
  // subscribed after `failed` was written, which is sticky, so nothing older arrives.
  const statuses: string[] = [];
  const watcher = new Redis(server.url);
  closers.push(() => watcher.disconnect());
  watcher.on('message', (_channel: string, message: string) => {
    const event = JSON.parse(message) as { type: string; status?: string };
    if (event.type === 'status') statuses.push(String(event.status));
  });
  await watcher.subscribe(keys.events);

  const elections = leader.elected.length;
  await admin.flushall();
  // The lease went with the data: the leader takes it again and aggregates at once.
  await waitFor('the leader to be elected again after the flush', () => leader.elected.length > elections, 15_000, 20);
  await aggregator.refresh();
  // Then the nodes' recovery steps (their next slot, or their reconnect).
  await n1.recovery.restore();
  await n2.recovery.restore();
  await waitFor('the project to be `failed` again', async () => (await admin.hget(keys.status, 'status')) === 'failed', 15_000, 20);
  await aggregator.refresh();
  // A PING answered on the subscriber comes after every message published before it.
  await watcher.ping();

  expect(statuses.filter((s) => s !== 'failed')).toEqual([]);
});

it('the attempt-id set lost while the record is kept: the reconnect path counts nothing again', async () => {
  const keys = newKeys('ids-lost');
  await register(keys);
  const n1 = await startNode(keys, 'n1');
  await readProject(n1);
  for (const id of ['f1', 'f2', 'f3']) await n1.sink.write(failedWith(n1, id), Date.now());
  await admin.del(keys.attempts('n1'));

  // The reconnect path (Agent.sync): the recovery step, then the recent results recorded again.
  await n1.recovery.restore();
  await n1.sink.replayRecent();

  const record = await admin.hgetall(keys.node('n1'));
  expect({
    consecutiveFailures: record.consecutiveFailures,
    attemptsTotal: record.attemptsTotal,
    failuresTotal: record.failuresTotal,
    history: await admin.llen(keys.history('n1')),
  }).toEqual({ consecutiveFailures: '3', attemptsTotal: '3', failuresTotal: '3', history: 3 });
});

it('a restore after FLUSHALL never leaves the ciphertext from before `crypto switch` once a holder of the newer one restored', async () => {
  const outcome: Record<string, unknown> = {};
  for (const order of [
    ['A', 'B'],
    ['B', 'A'],
  ] as const) {
    const keys = newKeys('switch');
    await register(keys);
    const nodes = { A: await startNode(keys, 'nA'), B: await startNode(keys, 'nB') };
    // A reads the RSA credential, then is down while `crypto switch --to sm2` runs; B reads the SM2 one.
    await readProject(nodes.A);
    expect((await switchCredential(admin, keys, 'sm2', keyDir)).outcome).toBe('switched');
    await readProject(nodes.B);
    const held = { A: nodes.A.local.get().credential, B: nodes.B.local.get().credential };
    expect([held.A?.algorithm, held.B?.algorithm]).toEqual(['rsa', 'sm2']);

    await admin.flushall();
    for (const who of order) await nodes[who].recovery.restore();

    const stored = await readCredential(admin, keys);
    const whose = stored?.ciphertext === held.B?.ciphertext ? "B's (sm2, newer)" : stored?.ciphertext === held.A?.ciphertext ? "A's (rsa, older)" : 'neither';
    outcome[`${order.join(' then ')} restores`] = { algorithm: stored?.algorithm, ciphertext: whose };
  }
  expect(outcome).toEqual({
    'A then B restores': { algorithm: 'sm2', ciphertext: "B's (sm2, newer)" },
    'B then A restores': { algorithm: 'sm2', ciphertext: "B's (sm2, newer)" },
  });
});

describe('results older than the 30-day horizon', () => {
  it('held among the recent results, are not recorded again by two reconnects', async () => {
    const keys = newKeys('old-recent');
    await register(keys);
    const n1 = await startNode(keys, 'n1');
    await readProject(n1);
    await n1.sink.write(failedWith(n1, 'new'), Date.now());
    // Among the results the node remembers, one it recorded over 30 days ago (Redis'
    // clock): its id has left the attempt-id set since (the horizon trims it).
    const oldAt = (await redisNow()) - HISTORY_MIN_AGE_MS - DAY;
    const old: JournalEntry = { ...failedWith(n1, 'old'), atMs: oldAt };
    n1.local.update({ recent: [old, ...n1.local.get().recent] });
    const snapshot = async () => ({
      attemptsTotal: await admin.hget(keys.node('n1'), 'attemptsTotal'),
      failuresTotal: await admin.hget(keys.node('n1'), 'failuresTotal'),
      history: await admin.llen(keys.history('n1')),
      oldInHistory: await historyCopies(keys, 'n1', 'old'),
    });
    const before = await snapshot();

    await n1.sink.replayRecent();
    await n1.sink.replayRecent();

    expect(await snapshot()).toEqual(before);
  });

  it('replayed from the journal, is recorded once and counted, or named as lost in a log line', async () => {
    const keys = newKeys('old-journal');
    await register(keys);
    const n1 = await startNode(keys, 'n1');
    await readProject(n1);
    await n1.sink.write(failedWith(n1, 'live'), Date.now());
    const before = Number(await admin.hget(keys.node('n1'), 'attemptsTotal'));
    // Made while Redis was away, over 30 days ago (Redis' clock), and journaled.
    const oldAt = (await redisNow()) - HISTORY_MIN_AGE_MS - DAY;
    n1.sink.toJournal({ ...failedWith(n1, 'old-journaled'), atMs: oldAt });

    await n1.sink.replay();
    // Two reconnects afterwards.
    await n1.sink.replayRecent();
    await n1.sink.replayRecent();

    const counted = Number(await admin.hget(keys.node('n1'), 'attemptsTotal')) - before;
    const copies = await historyCopies(keys, 'n1', 'old-journaled');
    const lostLine = n1.lines.some((l) => l.includes('old-journaled') && /\blost\b/i.test(l));
    const outcome =
      counted === 1 && copies === 1
        ? 'recorded once and counted'
        : counted === 0 && copies === 0 && lostLine
          ? 'named as lost'
          : `counted ${counted} times, ${copies} copies in the history, ${lostLine ? 'a' : 'no'} log line naming it lost`;
    expect(['recorded once and counted', 'named as lost']).toContain(outcome);
    expect(n1.sink.pending).toBe(0);
  });
});

describe('a journal.dir removed under a journal holding results', () => {
  const entry = (i: number): JournalEntry => ({ nodeId: 'n1', attemptId: `j${i}`, generation: 1, outcome: FAIL, atMs: 1_700_000_000_000 + i * 1000 });

  function journalIn(dir: string) {
    const disk = new LocalDisk(dir, silentLog);
    return { disk, journal: new Journal(disk, 'n1', silentLog) };
  }

  const observe = (dir: string, journal: Journal) => ({
    linesInFile: readFileSync(journal.file, 'utf8').split('\n').filter(Boolean).length,
    pendingInMemory: journal.pending,
    pendingWhenLoadedAgain: journalIn(dir).journal.pending,
  });
  const ALL_FIVE = { linesInFile: 5, pendingInMemory: 5, pendingWhenLoadedAgain: 5 };

  it('holds every result in the re-created directory after the next append', () => {
    const dir = path.join(tempDir('journal'), 'journal.dir');
    const { journal } = journalIn(dir);
    for (const i of [1, 2, 3, 4]) journal.append(entry(i));
    rmSync(dir, { recursive: true, force: true });
    journal.append(entry(5));
    expect(observe(dir, journal)).toEqual(ALL_FIVE);
  });

  it('holds every result when a state-file write re-created the directory before the append', () => {
    const dir = path.join(tempDir('journal-state'), 'journal.dir');
    const { disk, journal } = journalIn(dir);
    const local = new LocalState(disk, 'n1');
    for (const i of [1, 2, 3, 4]) journal.append(entry(i));
    rmSync(dir, { recursive: true, force: true });
    local.update({ lastSlot: 1_700_000_000_000 });
    journal.append(entry(5));
    expect(observe(dir, journal)).toEqual(ALL_FIVE);
  });
});
