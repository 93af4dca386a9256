import { every } from '../../shared/clock';
import { FakeClock } from '../../harness/fake-clock';

/**
 * `every` (the election's renew period, the aggregator's sweep) fires once per period a
 * clock moves over, from when it was armed, and never again once cancelled, even from a
 * call already due.
 */
describe('every', () => {
  it('fires once per period moved over, and not after cancel', async () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const start = clock.now();
    const timer = every(clock, 100, () => at.push(clock.now() - start));
    await clock.advance(350);
    expect(at).toEqual([100, 200, 300]);
    timer.cancel();
    await clock.advance(1000);
    expect(at).toEqual([100, 200, 300]);
    expect(clock.timers).toBe(0);
  });

  it('a cancel from inside the call stops it', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const timer = every(clock, 10, () => {
      calls += 1;
      if (calls === 2) timer.cancel();
    });
    await clock.advance(100);
    expect(calls).toBe(2);
    expect(clock.timers).toBe(0);
  });
});
