import { parseGoDuration } from '../../daemon/http/go-duration';
import { TokenBucket } from '../../daemon/http/token-bucket';

/** exporter-toolkit's rate_limit: Go's durations and Go's rate.Limiter, on a fake clock. */
describe('parseGoDuration', () => {
  it.each([
    ['1s', 1000],
    ['250ms', 250],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['0', 0],
    [0, 0],
    [2_000_000, 2],
  ])('reads %p as %p ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });
  it.each([['1'], ['1 s'], ['s'], ['-1s'], [-5], [true]])('refuses %p', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then one request per interval', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 2, () => now);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    now = 999;
    expect(bucket.take()).toBe(false);
    now = 1000;
    expect(bucket.take()).toBe(true);
    now = 60_000;
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });

  it('refuses everything with a burst of 0, as Go does', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 0, () => now);
    expect(bucket.take()).toBe(false);
    now = 10_000;
    expect(bucket.take()).toBe(false);
  });
});
