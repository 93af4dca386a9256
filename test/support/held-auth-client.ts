import type { AuthClient, RawAnswer } from '../../daemon/protocol/auth-client';

export const OK_ANSWER: RawAnswer = { kind: 'answer', status: 200, body: { code: 0, name: 'OK', message: 'ok', data: { capacity: 5, bound: 1 } } };
export const UNAVAILABLE: RawAnswer = { kind: 'unparseable', status: 503, detail: 'Service Unavailable' };
export const IP_REFUSED: RawAnswer = { kind: 'answer', status: 200, body: { code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip not allowed' } };

/**
 * The authorization server's side of an attempt, answered by the test: every call waits
 * until the test answers it (or its signal aborts, as a real request would), or is
 * answered at once with `auto` when set. Lets unit tests decide when a call ends
 * without a server, a network or a sleep.
 */
export class HeldAuthClient {
  readonly bodies: Array<Record<string, unknown>> = [];
  private readonly waiting: Array<(a: RawAnswer) => void> = [];
  private readonly arrivals: Array<() => void> = [];
  auto: RawAnswer | null = null;

  readonly client = {
    post: (_path: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<RawAnswer> =>
      new Promise<RawAnswer>((resolve) => {
        this.bodies.push(body);
        for (const arrived of this.arrivals.splice(0)) arrived();
        if (this.auto) return resolve(this.auto);
        this.waiting.push(resolve);
        signal?.addEventListener('abort', () => resolve({ kind: 'network', detail: 'aborted', timeout: true, tls: false }), { once: true });
      }),
  } as unknown as AuthClient;

  get calls(): number {
    return this.bodies.length;
  }

  /** Resolves once `n` calls were made in all. */
  async called(n: number): Promise<void> {
    while (this.calls < n) await new Promise<void>((resolve) => this.arrivals.push(resolve));
  }

  answerNext(answer: RawAnswer): void {
    const next = this.waiting.shift();
    if (!next) throw new Error('no call is waiting for an answer');
    next(answer);
  }
}
