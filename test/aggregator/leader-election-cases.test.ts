import { useRedisWithCandidates } from '../support/candidate-suite';
import { ElectionWorld, type Case } from '../support/election-steps';

/**
 * The leader election's state machine, case by case: each case is a list of steps and
 * what must hold after them (in the manner of client-go's leaderelection tests, which
 * drive tryAcquireOrRenew with a fake clock; the Redis here is a real redis-server). The
 * steps, and the world of two candidates that plays them, are in support/election-steps.ts.
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

describe('leader election, on fake clocks against a real Redis', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const world = new ElectionWorld(h, { leaseMs: LEASE, renewMs: RENEW });
    try {
      for (const step of c.steps) await world.play(step);
      await world.check(c.want);
    } finally {
      await world.close();
    }
  });
});
