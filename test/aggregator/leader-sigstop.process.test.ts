import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import { StatusWriter } from '../../daemon/aggregator/status-writer';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { waitFor } from '../../harness/wait';
import { assertBuilt } from '../../harness/authserver';
import { CandidateChild, type CandidateMessage } from '../../harness/candidate-child';
import { startCandidate, type Candidate } from '../../harness/sidecar-parts';
import { writeCredential, writeNodeRecord } from '../../harness/node-records';

/**
 * A real paused process: a candidate + aggregator in a child process (from dist/),
 * SIGSTOPped while it leads. Another candidate takes over once the lease expires;
 * when the child is resumed it must step down by itself (its monotonic deadline
 * passed) and write nothing over the new leader, and Redis refuses its old epoch.
 */
let server: TestRedis;
let admin: Redis;
let child: CandidateChild | undefined;
let other: Candidate | undefined;

beforeAll(async () => {
  // No build here: npm test builds before jest (rebuilding dist/ would race the other workers' processes).
  assertBuilt();
  server = await startRedis();
  admin = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(async () => {
  child?.signal('SIGCONT');
  await child?.stop('SIGKILL');
  await other?.close();
  admin?.disconnect();
  await disposeAllRedis();
});

it('a SIGSTOPped leader is replaced, steps down on resume, and its old epoch is refused', async () => {
  const k = new ProjectKeys(testPrefix('sigstop'), 'p1');
  await writeCredential(admin, k);
  const [s] = await admin.time();
  const now = Number(s) * 1000;
  await writeNodeRecord(admin, k, { id: 'n1', lastAttemptAt: now, lastSuccessAt: now });

  child = new CandidateChild('child', { url: server.url, prefix: k.keyPrefix, project: 'p1', leaseMs: 1000, renewMs: 200, sweepMs: 50, reportMs: 100 });
  const messages: CandidateMessage[] = child.messages;

  const elected = (await waitFor('the child to lead', () => messages.find((m) => m.elected !== undefined), 20_000)) as CandidateMessage;
  const childEpoch = elected.elected as number;
  const childInstance = elected.instance as string;
  await waitFor('the child to write the status', async () => (await admin.hget(k.status, 'status')) === 'registered');
  expect(await admin.hget(k.status, 'epoch')).toBe(String(childEpoch));

  other = await startCandidate({ url: server.url, keys: k, nodeId: 'n2', withAggregator: true, sweepMs: 100 });
  expect(other.election.isLeader).toBe(false);

  child.signal('SIGSTOP');
  const b = other;
  await waitFor('the other candidate to lead after the lease expired', () => b.election.isLeader, 10_000);
  expect(b.election.epoch).toBeGreaterThan(childEpoch);
  // The new leader changes the status under its own epoch while the child sleeps.
  await writeNodeRecord(admin, k, { id: 'n1', consecutiveFailures: 1, lastAttemptAt: now, lastSuccessAt: now - 1000 });
  await admin.publish(k.events, JSON.stringify({ type: 'attempt', node: 'n1', attemptId: 'x', ok: false }));
  await waitFor('the new leader to write degraded', async () => (await admin.hget(k.status, 'status')) === 'degraded');

  const before = messages.length;
  child.signal('SIGCONT');
  const demoted = (await waitFor('the child to step down', () => messages.slice(before).find((m) => m.demoted !== undefined), 10_000)) as CandidateMessage;
  expect(['lease-expired', 'lease-lost', 'fenced']).toContain(demoted.demoted);
  expect(demoted.isLeader).toBe(false);
  // A few sweeps later: the child never led again and never overwrote the new leader.
  await waitFor('more child reports', () => messages.length > before + 5, 10_000);
  expect(messages.slice(before).filter((m) => m.isLeader === true)).toEqual([]);
  expect(await admin.hget(k.status, 'status')).toBe('degraded');
  expect(await admin.hget(k.status, 'epoch')).toBe(String(b.election.epoch));
  expect(b.election.isLeader).toBe(true);

  // And had it written with its old epoch, Redis would have refused it.
  const writer = new StatusWriter(admin, k);
  const staleWritesRejected = async () => Number((await admin.hget(k.counters, 'staleWritesRejected')) ?? 0);
  const rejectedBefore = await staleWritesRejected();
  expect(await writer.writeStatus({ instance: childInstance, epoch: childEpoch, status: 'registered', generation: 1, registration: 'g1' })).toBe('fenced');
  expect(await staleWritesRejected()).toBe(rejectedBefore + 1);
  expect(await admin.hget(k.status, 'status')).toBe('degraded');
});
