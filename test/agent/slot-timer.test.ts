import { attemptOfJob, catchUpDue, catchUpJobId } from '../../daemon/agent/heartbeat-scheduler';
import { attemptIdAliases, legacySlotAttemptId, SCHEDULER_ID, slotAttemptId, slotOfAttemptId } from '../../daemon/agent/schedule';
import { nextSlot, stableOffset } from '../../shared/heartbeat-grid';
import { SlotTimer } from '../../daemon/agent/slot-timer';
import { FakeClock } from '../../harness/fake-clock';

/**
 * The heartbeat's decisions on a fake clock (SPEC R1): the slot timer on the grid
 * (its maths: test/shared/heartbeat-grid.test.ts),
 * the attempt id of a slot (the same from the timer and from BullMQ), and the catch-up
 * rule. What BullMQ itself does is pinned in bullmq-contract.test.ts.
 */

const INTERVAL = 60_000;
const OFFSET = stableOffset('p', 'n1', INTERVAL);

describe('attempt ids', () => {
  it('are made from the slot, and a scheduled job names the slot it was scheduled for', () => {
    const slot = 10 * INTERVAL + OFFSET;
    expect(slotAttemptId(slot)).toBe(`slot:${slot}`);
    // Made late or early, retried or re-run: its scheduled time names the slot, never its id.
    const job = { id: 'anything', repeatJobKey: SCHEDULER_ID, timestamp: slot - 4000, opts: { delay: 4000 } };
    expect(attemptOfJob(job, INTERVAL, OFFSET)).toEqual({ attemptId: `slot:${slot}`, slot });
    // BullMQ clamps the delay of a job it makes after its slot: still the slot before.
    expect(attemptOfJob({ ...job, timestamp: slot + 1500, opts: { delay: 0 } }, INTERVAL, OFFSET).slot).toBe(slot);
    // Other jobs (catch-up, after register) are attempts under their own id.
    expect(attemptOfJob({ id: 'catchup-none', repeatJobKey: undefined, timestamp: slot, opts: {} }, INTERVAL, OFFSET)).toEqual({
      attemptId: 'catchup-none',
      slot: null,
    });
  });

  it('know the name an earlier release recorded a slot under, both ways', () => {
    expect(attemptIdAliases('slot:120')).toEqual(['slot:120', 'repeat:heartbeat:120']);
    expect(attemptIdAliases(legacySlotAttemptId(120))).toEqual(['repeat:heartbeat:120', 'slot:120']);
    expect(attemptIdAliases('catchup-none')).toEqual(['catchup-none']);
    expect(slotOfAttemptId('repeat:heartbeat:120')).toBe(120);
    expect(slotOfAttemptId('registered-4')).toBeNull();
  });
});

describe('catch-up (R1)', () => {
  it('is due with no attempt, or a last attempt an interval old', () => {
    expect(catchUpDue(null, 1_000_000, INTERVAL)).toBe(true);
    expect(catchUpDue(1_000_000 - INTERVAL, 1_000_000, INTERVAL)).toBe(true);
    expect(catchUpDue(1_000_000 - INTERVAL + 1, 1_000_000, INTERVAL)).toBe(false);
  });

  it('runs under an id replicas agree on: the last attempt id, or none', () => {
    expect(catchUpJobId('slot:120')).toBe('catchup-slot_120');
    expect(catchUpJobId(null)).toBe('catchup-none');
  });
});

describe('the slot timer', () => {
  function timer(clock: FakeClock) {
    const fired: Array<[number, number]> = [];
    const t = new SlotTimer(clock, clock, INTERVAL, OFFSET, (slot) => fired.push([slot, clock.now()]));
    return { t, fired };
  }

  it('fires for each slot a grace after it (BullMQ gets the first chance), on the grid', async () => {
    const clock = new FakeClock(1_000 * INTERVAL + 5);
    const { t, fired } = timer(clock);
    t.start();
    const first = nextSlot(clock.now(), INTERVAL, OFFSET);
    await clock.advance(3 * INTERVAL);
    expect(fired).toEqual([0, 1, 2].map((k) => [first + k * INTERVAL, first + k * INTERVAL + t.graceMs]));
    expect(t.graceMs).toBe(15_000);
  });

  it('arms the next slot before handing out this one, and skips slots the process slept through', async () => {
    const clock = new FakeClock(1_000 * INTERVAL + 5);
    const seen: number[] = [];
    const armed: Array<number | null> = [];
    const t = new SlotTimer(clock, clock, INTERVAL, OFFSET, (slot) => {
      seen.push(slot);
      armed.push(clock.nextDue());
    });
    t.start();
    const first = nextSlot(clock.now(), INTERVAL, OFFSET);
    await clock.advanceToNext();
    expect(seen).toEqual([first]);
    // Already armed for the next slot while this one's work starts.
    expect(armed).toEqual([first + INTERVAL + t.graceMs]);

    // The process is frozen for three intervals: the late timer hands out its slot once, then the grid goes on.
    clock.set(first + 4 * INTERVAL + t.graceMs + 10);
    await clock.advanceToNext();
    expect(seen).toEqual([first, first + INTERVAL]);
    await clock.advanceToNext();
    expect(seen).toEqual([first, first + INTERVAL, first + 5 * INTERVAL]);
  });

  it('stops: nothing fires after stop()', async () => {
    const clock = new FakeClock();
    const { t, fired } = timer(clock);
    t.start();
    t.stop();
    await clock.advance(5 * INTERVAL);
    expect(fired).toEqual([]);
    expect(clock.timers).toBe(0);
  });
});
