/**
 * exporter-toolkit's rate_limit: a token bucket (Go's rate.Limiter) holding at most
 * `burst` tokens, one added every `intervalMs`; a request takes one or is refused. As
 * in Go, a burst of 0 refuses every request.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly intervalMs: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.intervalMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
