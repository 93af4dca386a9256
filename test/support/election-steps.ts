import { ProjectKeys } from '../../shared/redis/keys';
import type { DemotionReason, ElectionState } from '../../daemon/aggregator/leader-election';
import type { CandidateHarness } from './candidate-suite';
import { FakeClock } from '../../harness/fake-clock';
import { PausableProxy } from './pausable-proxy';
import { waitFor } from '../../harness/wait';
import { testPrefix } from '../../harness/redis-server';
import { startCandidate, type Candidate } from '../../harness/sidecar-parts';

/**
 * The steps of the leader-election cases (test/aggregator/leader-election-cases.test.ts)
 * and the world that plays them: two candidates of one project, each on a FakeClock of
 * its own, against the suite's real Redis. How time moves, and why that keeps the cases
 * deterministic, is said in the test's header.
 */
export type Who = 'a' | 'b';

export type Step =
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

export interface Want {
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

export interface Case {
  name: string;
  steps: Step[];
  want: Want;
}

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
export class ElectionWorld {
  readonly keys = new ProjectKeys(testPrefix('election-cases'), 'p1');
  private readonly parties = new Map<Who, Party>();

  constructor(
    private readonly h: CandidateHarness,
    private readonly timing: { leaseMs: number; renewMs: number },
  ) {}

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
      await this.h.admin.pexpire(this.keys.leader, 1);
      await waitFor('the lease to lapse in Redis', async () => (await this.h.admin.exists(this.keys.leader)) === 0, IO_MS, 5);
      return;
    }
    if ('lost' in step) {
      await this.h.admin.del(this.keys.leader);
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
      await this.h.admin.call('ACL', 'SETUSER', this.user(step.refuse), 'resetchannels', '-@all');
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
    const lease = await this.h.admin.get(this.keys.leader);
    const [holder, epoch] = want.redis?.split('|') ?? [];
    expect(lease).toBe(want.redis === null ? null : `${this.party(holder as Who).c.election.instance}|${epoch}`);
    for (const [who, reasons] of Object.entries(want.demoted ?? {}))
      expect({ who, demoted: this.party(who as Who).c.demoted }).toEqual({ who, demoted: reasons });
    for (const [who, epochs] of Object.entries(want.elected ?? {}))
      expect({ who, elected: this.party(who as Who).c.elected }).toEqual({ who, elected: epochs });
    for (const [who, state] of Object.entries(want.states ?? {})) expect({ who, state: this.party(who as Who).c.election.state }).toEqual({ who, state });
  }

  /** Closes the candidates (a hung connection is let go first, so their close can finish), the proxies and the users. */
  async close(): Promise<void> {
    for (const p of this.parties.values()) p.proxy?.resume();
    await Promise.all([...this.parties.values()].map((p) => this.closeParty(p)));
    for (const p of this.parties.values()) if (p.proxy) await p.proxy.close();
    for (const [who, p] of this.parties) if (p.ownUser) await this.h.admin.call('ACL', 'DELUSER', this.user(who));
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
    const proxy = via === 'proxy' ? new PausableProxy(this.h.server.port) : undefined;
    await proxy?.start();
    let url = proxy?.url ?? this.h.server.url;
    if (via === 'own-user') {
      await this.h.admin.call('ACL', 'SETUSER', this.user(who), 'on', '>election-case', '~*', '&*', '+@all');
      url = url.replace('redis://', `redis://${this.user(who)}:election-case@`);
    }
    // Only the command connection is the case's to disturb: the events still arrive.
    const c = await startCandidate({ url, subscriberUrl: this.h.server.url, keys: this.keys, nodeId: who, ...this.timing, clock, timers: clock });
    this.parties.set(who, { c, clock, proxy, hung: false, ownUser: via === 'own-user' });
  }

  private async runFor(who: Who, ms: number): Promise<void> {
    const p = this.party(who);
    await p.clock.advanceSettled(ms, () => (p.hung ? Promise.resolve() : p.c.election.settled()));
  }
}
