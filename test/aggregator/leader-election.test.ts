import { ProjectKeys } from '../../shared/redis/keys';
import { StatusWriter } from '../../daemon/aggregator/status-writer';
import { FakeClock } from '../../harness/fake-clock';
import { startRedis, testPrefix } from '../../harness/redis-server';
import { waitFor } from '../../harness/wait';
import { PausableProxy } from '../support/pausable-proxy';
import { startCandidate, type Candidate } from '../../harness/sidecar-parts';
import { useRedisWithCandidates } from '../support/candidate-suite';
import { writeCredential, writeNodeRecord } from '../../harness/node-records';
import { LEADER_LEASE_MS, LEADER_RENEW_MS } from '../../harness/noise-budget';

const h = useRedisWithCandidates();

function keys(): ProjectKeys {
  return new ProjectKeys(testPrefix('leader'), 'p1');
}

async function candidate(k: ProjectKeys, nodeId: string, extra: Partial<Parameters<typeof startCandidate>[0]> = {}): Promise<Candidate> {
  const c = await startCandidate({ url: h.server.url, keys: k, nodeId, ...extra });
  h.open.push(c);
  return c;
}

const leaders = (cs: Candidate[]) => cs.filter((c) => c.election.isLeader);

describe('leader election', () => {
  it('elects exactly one of three candidates, and Redis names it', async () => {
    const k = keys();
    // Each on a fake clock of its own, as three processes: the renew periods below are
    // moved through, not slept through (each renew awaited before its clock moves on).
    // The budget's lease, which Redis counts in real time, outlasts a stall between two renews.
    const clocks = [new FakeClock(), new FakeClock(), new FakeClock()];
    const cs = await Promise.all(
      ['n1', 'n2', 'n3'].map((n, i) => candidate(k, n, { clock: clocks[i], timers: clocks[i], leaseMs: LEADER_LEASE_MS, renewMs: LEADER_RENEW_MS })),
    );
    const [leader] = (await waitFor('a leader', () => (leaders(cs).length === 1 ? leaders(cs) : null))) as Candidate[];
    expect(leaders(cs)).toHaveLength(1);
    expect(await h.admin.get(k.leader)).toBe(`${leader?.election.instance}|${leader?.election.epoch}`);
    expect(Number(await h.admin.get(k.epoch))).toBe(leader?.election.epoch);
    // Several renew periods (and more than a lease) later there is still exactly the same single leader.
    for (let period = 0; period < 6; period++) {
      for (const [i, c] of cs.entries()) await clocks[i]?.advanceSettled(c.election.renewMs, () => c.election.settled());
    }
    expect(leaders(cs)).toEqual([leader]);
    expect(leader?.elected).toHaveLength(1);
    expect(leader?.election.instance).toMatch(/^n\d\/[^/]+\/\d+\/[0-9a-f]{6}$/);
  });

  it('hands over when the leader closes by the released event, not by a periodic try or the lease', async () => {
    const k = keys();
    // Candidates try on their own only every minute (and the lease is 2 minutes), so a
    // new leader within the 30 s waited for below can only come from the event: the
    // proof does not depend on how fast this machine is.
    const cs = await Promise.all(['n1', 'n2', 'n3'].map((n) => candidate(k, n, { leaseMs: 120_000, renewMs: 60_000 })));
    const first = (await waitFor('a leader', () => leaders(cs)[0])) as Candidate;
    const firstEpoch = first.election.epoch as number;
    await first.close();
    expect(first.election.state).toBe('closed');
    expect(first.demoted).toEqual(['closed']);
    const rest = cs.filter((c) => c !== first);
    const next = (await waitFor('a new leader', () => leaders(rest)[0], 30_000, 10)) as Candidate;
    expect(next.election.epoch).toBe(firstEpoch + 1);
    expect(leaders(rest)).toHaveLength(1);
    // close() is idempotent.
    await first.close();
  });

  it('gives strictly increasing epochs over successive hand-overs', async () => {
    const k = keys();
    const cs = await Promise.all(['a', 'b', 'c', 'd'].map((n) => candidate(k, n)));
    const epochs: number[] = [];
    let remaining = cs;
    for (let i = 0; i < 3; i++) {
      const leader = (await waitFor('a leader', () => leaders(remaining)[0])) as Candidate;
      epochs.push(leader.election.epoch as number);
      await leader.close();
      remaining = remaining.filter((c) => c !== leader);
    }
    expect(epochs[1]).toBeGreaterThan(epochs[0] as number);
    expect(epochs[2]).toBeGreaterThan(epochs[1] as number);
  });

  it('replaces a leader whose connection is paused past its lease; its late write is refused and it steps down', async () => {
    const k = keys();
    await writeCredential(h.admin, k);
    await writeNodeRecord(h.admin, k, { id: 'n1', lastAttemptAt: Date.now(), lastSuccessAt: Date.now() });
    const proxy = new PausableProxy(h.server.port);
    await proxy.start();
    try {
      // Its aggregator sweeps rarely, so the test decides when it writes.
      const a = await candidate(k, 'a', { url: proxy.url, withAggregator: true, sweepMs: 60_000 });
      await waitFor('a to lead', () => a.election.isLeader);
      const b = await candidate(k, 'b');
      const epochA = a.election.epoch as number;
      // Stored status says something else than the nodes do, so A's aggregation must write.
      await a.aggregator?.refresh();
      await h.admin.hset(k.status, 'status', 'degraded');

      proxy.pause();
      const late = a.aggregator?.refresh();
      await waitFor('b to lead after the lease expired', () => b.election.isLeader, 10_000);
      expect(b.election.epoch).toBeGreaterThan(epochA);
      // A's watchdog ended its leadership on its own monotonic clock, while its Redis calls hang.
      await waitFor('a to step down', () => a.demoted.length > 0);
      expect(a.demoted[0]).toBe('lease-expired');
      expect(a.election.isLeader).toBe(false);

      proxy.resume();
      // The read that was on its way completes, and the write it carries the old epoch: fenced.
      expect(await late).toBeNull();
      // Only A's aggregator writes (B has none): the one write Redis refused is A's.
      expect(b.aggregator).toBeUndefined();
      expect(await h.admin.hget(k.counters, 'staleWritesRejected')).toBe('1');
      expect(await h.admin.hget(k.status, 'status')).toBe('degraded');
      expect(b.election.isLeader).toBe(true);
      expect(a.election.isLeader).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('a write with an old epoch is refused by the Lua fence and counted', async () => {
    const k = keys();
    const c = await candidate(k, 'x');
    await waitFor('x to lead', () => c.election.isLeader);
    const writer = new StatusWriter(h.admin, k);
    const epoch = c.election.epoch as number;
    await h.admin.hset(k.credential, { account: 'a', generation: '1' });
    expect(await writer.writeStatus({ instance: c.election.instance, epoch: epoch - 1, status: 'registered', generation: 1, registration: 'g1' })).toBe(
      'fenced',
    );
    expect(await writer.writeStatus({ instance: 'someone-else', epoch, status: 'registered', generation: 1, registration: 'g1' })).toBe('fenced');
    expect(await h.admin.hget(k.counters, 'staleWritesRejected')).toBe('2');
    expect(await h.admin.exists(k.status)).toBe(0);
    expect(await writer.writeStatus({ instance: c.election.instance, epoch, status: 'registered', generation: 1, registration: 'g1' })).toBe('written');
    expect(await writer.writeStatus({ instance: c.election.instance, epoch, status: 'registered', generation: 1, registration: 'g1' })).toBe('unchanged');
    expect(await h.admin.hget(k.status, 'epoch')).toBe(String(epoch));
  });

  it('a write fenced for an earlier epoch does not demote a newer leadership of the same instance', async () => {
    const k = keys();
    // The noise budget's lease and renew (LEADER_ENV).
    const c = await candidate(k, 'n1', { leaseMs: LEADER_LEASE_MS, renewMs: LEADER_RENEW_MS });
    const first = (await waitFor('n1 to lead', () => c.election.epoch)) as number;
    // The instance loses the lease and wins it back while its aggregator's read of the
    // first epoch is still on its way.
    await h.admin.del(k.leader);
    const second = (await waitFor('n1 to lead again under a new epoch', () => ((c.election.epoch ?? 0) > first ? c.election.epoch : null), 30_000)) as number;
    // The slow read's write is fenced: it names the epoch it was read under.
    c.election.stepDown('fenced', first);
    expect(c.election.isLeader).toBe(true);
    expect(c.election.epoch).toBe(second);
    expect(await h.admin.get(k.leader)).toBe(`${c.election.instance}|${second}`);
    // A write fenced for the current epoch still steps down.
    c.election.stepDown('fenced', second);
    expect(c.election.state).toBe('candidate');
    expect(c.demoted.at(-1)).toBe('fenced');
  });
});

describe('leader election when Redis dies', () => {
  it('the leader steps down when the harness Redis is killed, and a leader is elected again after restart', async () => {
    const own = await startRedis();
    const k = keys();
    const cs = [await startCandidate({ url: own.url, keys: k, nodeId: 'a' }), await startCandidate({ url: own.url, keys: k, nodeId: 'b' })];
    h.open.push(...cs);
    const leader = (await waitFor('a leader', () => leaders(cs)[0])) as Candidate;
    await own.kill();
    await waitFor('the leader to step down', () => leader.demoted.length > 0, 10_000);
    expect(leader.demoted[0]).toBe('lease-expired');
    expect(leaders(cs)).toHaveLength(0);
    await own.restart();
    await waitFor('a leader after restart', () => leaders(cs).length === 1, 15_000);
  });
});
