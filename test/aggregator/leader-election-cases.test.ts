import { ProjectKeys } from '../../shared/redis/keys';
import type { DemotionReason, ElectionState } from '../../daemon/aggregator/leader-election';
import { useRedisWithCandidates } from '../support/candidate-suite';
import { FakeClock } from '../support/fake-clock';
import { PausableProxy } from '../support/pausable-proxy';
import { waitFor } from '../support/ports';
import { testPrefix } from '../support/redis-server';
import { startCandidate, type Candidate } from '../support/sidecar-parts';

/**
 * The leader election's state machine, case by case: each case is a list of steps and
 * what must hold after them (in the manner of client-go's leaderelection tests, which
 * drive tryAcquireOrRenew with a fake clock; the Redis here is a real redis-server).
 *
 * How time moves, and why the cases are deterministic and bounded:
 * - Each candidate has its own FakeClock for its deadline, its renew period and its
 *   watchdog, as two processes have two clocks. A candidate whose clock is not moved is a
 *   stopped process; `jump` is one resumed after a stop (its clock leaps, its overdue
 *   timers fire when it runs again).
 * - `run` moves a clock timer by timer and waits, after each, for the acquire or renew
 *   that timer started (`election.settled()`): on the candidates' clocks Redis answers in
 *   no time, so no outcome depends on how fast this machine is.
 * - The lease's expiry in Redis runs on Redis's real clock, and the leases are the
 *   product's (15 s lease, 5 s renew), so no lease lapses in Redis by itself during a
 *   case, even with Redis or this worker stalled for the noise budget's 3 s. A case whose
 *   story needs the lease to have lapsed in Redis (its holder stopped, the others' clocks
 *   past the lease) has a `lapse` step: Redis expires the key now (PEXPIRE 1) and the
 *   step waits until Redis no longer returns it. Redis does the expiring; the case picks
 *   the moment. The election is not changed to read lease times instead: that would be
 *   another protocol, not a test of this one.
 * - A renew that fails is Redis refusing the candidate's commands (the candidate runs as
 *   a Redis user of its own, whose rights the case takes away): an error reply at once,
 *   on a connection that stays up. A renew that hangs goes through a proxy that holds
 *   every byte; the clock is then moved without waiting for it.
 * - The only real waits are for I/O (a published release reaching a candidate, a key
 *   expiring), each bounded with room for a 3 s stall.
 */
const LEASE = 15_000;
const RENEW = 5_000;

type Who = 'a' | 'b';

type Step =
  /**
   * Starts a candidate (its first try is awaited). Its commands go `via` a proxy the case
   * can hang, or as a Redis user of its own whose rights the case can take away.
   */
  | { start: Who; via?: 'proxy' | 'own-user' }
  /** Moves the clock of one candidate, or of both in turns of a second. */
  | { run: Who | 'both'; ms: number }
  /** The candidate was stopped for `ms`: its clock leaps, and nothing fires until it runs. */
  | { jump: Who; ms: number }
  /** The lease lapses in Redis (on Redis's clock). */
  | { lapse: true }
  /** Redis loses the lease key (a fail-over to a replica that missed the write). */
  | { lost: true }
  /** The candidate's aggregator had a write refused by the fence, for this epoch. */
  | { fenced: Who; epoch: number }
  /** The candidate closes (as on SIGTERM). */
  | { close: Who }
  /** Waits for the candidate to be elected by an event alone: its clock does not move. */
  | { hears: Who }
  /** Redis refuses the candidate's commands (its user loses its rights): each fails at once. */
  | { refuse: Who }
  /** The candidate's command connection holds every byte: its commands hang. */
  | { hang: Who }
  | { check: Want };

interface Want {
  /** Every candidate that believes it leads, with its epoch. */
  leaders: Partial<Record<Who, number>>;
  /** The lease in Redis, as `who|epoch`; null when there is none. */
  redis: string | null;
  /** Every demotion so far, in order (none when the candidate is left out). */
  demoted?: Partial<Record<Who, DemotionReason[]>>;
  /** Every epoch the candidate was elected with, in order. */
  elected?: Partial<Record<Who, number[]>>;
  states?: Partial<Record<Who, ElectionState>>;
}

interface Case {
  name: string;
  steps: Step[];
  want: Want;
}

const cases: Case[] = [
  {
    name: 'takes a free lease at start, with the first epoch',
    steps: [{ start: 'a' }],
    want: { leaders: { a: 1 }, redis: 'a|1', elected: { a: [1] }, states: { a: 'leader' } },
  },
  {
    // Without renews, its watchdog would step it down at 15 s.
    name: 'renews before its lease ends, for three leases',
    steps: [{ start: 'a' }, { run: 'a', ms: 3 * LEASE }],
    want: { leaders: { a: 1 }, redis: 'a|1', demoted: { a: [] }, elected: { a: [1] } },
  },
  {
    name: 'a candidate does not take a lease its holder keeps renewing',
    steps: [{ start: 'a' }, { start: 'b' }, { run: 'both', ms: 3 * LEASE }],
    want: { leaders: { a: 1 }, redis: 'a|1', demoted: { a: [], b: [] }, elected: { a: [1], b: [] }, states: { b: 'candidate' } },
  },
  {
    name: 'a leader whose lease another took (Redis lost it) is refused at its next renew, and leaves the new lease alone',
    steps: [
      { start: 'a' },
      { start: 'b' },
      { lost: true },
      { run: 'b', ms: RENEW },
      // Until its next renew A still believes it leads: the fence refuses its writes.
      { check: { leaders: { a: 1, b: 2 }, redis: 'b|2' } },
      { run: 'a', ms: RENEW },
    ],
    want: { leaders: { b: 2 }, redis: 'b|2', demoted: { a: ['lease-lost'], b: [] }, elected: { a: [1], b: [2] } },
  },
  {
    name: 'takes over once the lease lapsed while its holder was stopped; the holder, resumed, steps down before anything else',
    steps: [
      { start: 'a' },
      { start: 'b' },
      { run: 'b', ms: LEASE },
      { check: { leaders: { a: 1 }, redis: 'a|1' } },
      { lapse: true },
      { run: 'b', ms: RENEW },
      { jump: 'a', ms: LEASE + RENEW },
      // Its deadline has passed on its clock: it knows before any timer of its ran.
      { check: { leaders: { b: 2 }, redis: 'b|2', demoted: { a: [] }, states: { a: 'leader' } } },
      { run: 'a', ms: 0 },
    ],
    want: { leaders: { b: 2 }, redis: 'b|2', demoted: { a: ['lease-expired'], b: [] }, elected: { a: [1], b: [2] }, states: { a: 'candidate' } },
  },
  {
    name: 'steps down on a fenced write only for the epoch fenced, and leaves the lease in Redis (it is not known to be its own)',
    steps: [
      { start: 'a' },
      { lost: true },
      // Refused, then taken again under the next epoch.
      { run: 'a', ms: 2 * RENEW },
      // A slow read of epoch 1 had its write fenced: the leadership of epoch 2 stays.
      { fenced: 'a', epoch: 1 },
      { check: { leaders: { a: 2 }, redis: 'a|2', demoted: { a: ['lease-lost'] }, elected: { a: [1, 2] } } },
      { fenced: 'a', epoch: 2 },
    ],
    want: { leaders: {}, redis: 'a|2', demoted: { a: ['lease-lost', 'fenced'] }, elected: { a: [1, 2] }, states: { a: 'candidate' } },
  },
  {
    name: 'releases the lease on close, and a candidate takes it on the published release without its clock moving',
    steps: [{ start: 'a' }, { start: 'b' }, { close: 'a' }, { hears: 'b' }],
    want: { leaders: { b: 2 }, redis: 'b|2', demoted: { a: ['closed'], b: [] }, elected: { a: [1], b: [2] }, states: { a: 'closed' } },
  },
  {
    name: 'a leader whose renews fail keeps leading until its local deadline, then steps down; the lease lapses and another takes it',
    steps: [
      { start: 'a', via: 'own-user' },
      { start: 'b' },
      { refuse: 'a' },
      { run: 'a', ms: LEASE - 1 },
      { check: { leaders: { a: 1 }, redis: 'a|1', demoted: { a: [] } } },
      { run: 'a', ms: 1 },
      // It could not release the lease: Redis holds it until it lapses.
      { check: { leaders: {}, redis: 'a|1', demoted: { a: ['lease-expired'] } } },
      { lapse: true },
      { run: 'b', ms: RENEW },
    ],
    want: { leaders: { b: 2 }, redis: 'b|2', demoted: { a: ['lease-expired'], b: [] }, elected: { a: [1], b: [2] } },
  },
  {
    name: 'a leader whose renew hangs steps down at its deadline while the call is still on its way',
    steps: [{ start: 'a', via: 'proxy' }, { hang: 'a' }, { run: 'a', ms: LEASE - 1 }, { check: { leaders: { a: 1 }, redis: 'a|1' } }, { run: 'a', ms: 1 }],
    want: { leaders: {}, redis: 'a|1', demoted: { a: ['lease-expired'] }, elected: { a: [1] }, states: { a: 'candidate' } },
  },
];

const h = useRedisWithCandidates();

/** A bound for waits on I/O: a few round trips and a stalled process. */
const IO_MS = 10_000;

interface Party {
  c: Candidate;
  clock: FakeClock;
  proxy: PausableProxy | undefined;
  /** Its commands hang: a clock moved over them cannot wait for them. */
  hung: boolean;
  ownUser: boolean;
  closing?: Promise<void>;
}

/** The candidates of one case, on one project of their own. */
class World {
  readonly keys = new ProjectKeys(testPrefix('election-cases'), 'p1');
  private readonly parties = new Map<Who, Party>();

  party(who: Who): Party {
    const p = this.parties.get(who);
    if (!p) throw new Error(`the case uses ${who} before starting it`);
    return p;
  }

  async play(step: Step): Promise<void> {
    if ('start' in step) return this.start(step.start, step.via);
    if ('run' in step) {
      const who: Who[] = step.run === 'both' ? ['a', 'b'] : [step.run];
      // Both in turns of a second, so neither gets ahead of the other by a renew period.
      let left = step.ms;
      do {
        const ms = Math.min(1000, left);
        for (const w of who) await this.runFor(w, ms);
        left -= ms;
      } while (left > 0);
      return;
    }
    if ('jump' in step) return this.party(step.jump).clock.set(this.party(step.jump).clock.now() + step.ms);
    if ('lapse' in step) {
      await h.admin.pexpire(this.keys.leader, 1);
      await waitFor('the lease to lapse in Redis', async () => (await h.admin.exists(this.keys.leader)) === 0, IO_MS, 5);
      return;
    }
    if ('lost' in step) {
      await h.admin.del(this.keys.leader);
      return;
    }
    if ('fenced' in step) return this.party(step.fenced).c.election.stepDown('fenced', step.epoch);
    if ('close' in step) return this.closeParty(this.party(step.close));
    if ('hears' in step) {
      const p = this.party(step.hears);
      const before = p.clock.now();
      await waitFor(`${step.hears} to be elected by the release`, () => p.c.elected.length > 0, IO_MS, 5);
      await p.c.election.settled();
      expect(p.clock.now()).toBe(before);
      return;
    }
    if ('refuse' in step) {
      await h.admin.call('ACL', 'SETUSER', this.user(step.refuse), 'resetchannels', '-@all');
      return;
    }
    if ('hang' in step) {
      const p = this.party(step.hang);
      p.proxy?.pause();
      p.hung = true;
      return;
    }
    return this.check(step.check);
  }

  async check(want: Want): Promise<void> {
    const leaders: Partial<Record<Who, number>> = {};
    for (const [who, p] of this.parties) if (p.c.election.isLeader) leaders[who] = p.c.election.epoch as number;
    expect(leaders).toEqual(want.leaders);
    const lease = await h.admin.get(this.keys.leader);
    const [holder, epoch] = want.redis?.split('|') ?? [];
    expect(lease).toBe(want.redis === null ? null : `${this.party(holder as Who).c.election.instance}|${epoch}`);
    for (const [who, reasons] of Object.entries(want.demoted ?? {})) expect({ who, demoted: this.party(who as Who).c.demoted }).toEqual({ who, demoted: reasons });
    for (const [who, epochs] of Object.entries(want.elected ?? {})) expect({ who, elected: this.party(who as Who).c.elected }).toEqual({ who, elected: epochs });
    for (const [who, state] of Object.entries(want.states ?? {})) expect({ who, state: this.party(who as Who).c.election.state }).toEqual({ who, state });
  }

  /** Closes the candidates (a hung connection is let go first, so their close can finish), the proxies and the users. */
  async close(): Promise<void> {
    for (const p of this.parties.values()) p.proxy?.resume();
    await Promise.all([...this.parties.values()].map((p) => this.closeParty(p)));
    for (const p of this.parties.values()) if (p.proxy) await p.proxy.close();
    for (const [who, p] of this.parties) if (p.ownUser) await h.admin.call('ACL', 'DELUSER', this.user(who));
  }

  /** The Redis user of a candidate started `via: 'own-user'`: one per case, so cases share nothing. */
  private user(who: Who): string {
    return `${this.keys.keyPrefix.replace(/[^\w-]/g, '')}-${who}`;
  }

  private closeParty(p: Party): Promise<void> {
    p.closing ??= p.c.close();
    return p.closing;
  }

  private async start(who: Who, via: 'proxy' | 'own-user' | undefined): Promise<void> {
    const clock = new FakeClock();
    const proxy = via === 'proxy' ? new PausableProxy(h.server.port) : undefined;
    await proxy?.start();
    let url = proxy?.url ?? h.server.url;
    if (via === 'own-user') {
      await h.admin.call('ACL', 'SETUSER', this.user(who), 'on', '>election-case', '~*', '&*', '+@all');
      url = url.replace('redis://', `redis://${this.user(who)}:election-case@`);
    }
    // Only the command connection is the case's to disturb: the events still arrive.
    const c = await startCandidate({ url, subscriberUrl: h.server.url, keys: this.keys, nodeId: who, leaseMs: LEASE, renewMs: RENEW, clock, timers: clock });
    this.parties.set(who, { c, clock, proxy, hung: false, ownUser: via === 'own-user' });
  }

  private async runFor(who: Who, ms: number): Promise<void> {
    const p = this.party(who);
    await p.clock.advanceSettled(ms, () => (p.hung ? Promise.resolve() : p.c.election.settled()));
  }
}

describe('leader election, on fake clocks against a real Redis', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const world = new World();
    try {
      for (const step of c.steps) await world.play(step);
      await world.check(c.want);
    } finally {
      await world.close();
    }
  });
});
