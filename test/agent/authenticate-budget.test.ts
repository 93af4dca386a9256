import { authenticate, type AuthenticateRequest } from '../../daemon/agent/authenticate';
import type { AuthClient, RawAnswer } from '../../daemon/protocol/auth-client';

/**
 * The attempt budget of SPEC R2 (everything within 5 minutes) on injected time: the
 * deadline is a signal the test fires, the sleeps return at once, and the
 * authorization server is a client whose calls answer only when told (or aborted).
 */

const REQUEST: AuthenticateRequest = {
  account: 'acct',
  password: 'not-a-real-password',
  project: 'p',
  node: { id: 'n1', ip: '10.0.0.1', domain: 'fdl.example.com', appName: 'webroot' },
  version: '4.1.5',
  requestId: 'r1',
};

/** A client whose every call waits until the test answers it or its signal aborts. */
function heldClient(): { client: AuthClient; calls: number; answerNext: (a: RawAnswer) => void } {
  const waiting: Array<(a: RawAnswer) => void> = [];
  const state = {
    calls: 0,
    client: {
      post: (_path: string, _body: unknown, signal?: AbortSignal): Promise<RawAnswer> =>
        new Promise<RawAnswer>((resolve) => {
          state.calls += 1;
          waiting.push(resolve);
          signal?.addEventListener('abort', () => resolve({ kind: 'network', detail: 'aborted', timeout: true, tls: false }), { once: true });
        }),
    } as unknown as AuthClient,
    answerNext: (a: RawAnswer) => waiting.shift()?.(a),
  };
  return state;
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

it('cuts a try still waiting for an answer when the attempt budget runs out, and does not retry after', async () => {
  const held = heldClient();
  const budget = new AbortController();
  let settled: { tries: number; message: string } | undefined;
  void authenticate(held.client, REQUEST, {
    retries: 2,
    backoffMs: 10,
    budgetMs: 300_000,
    sleep: async () => undefined,
    now: () => 0,
    deadline: () => budget.signal,
  }).then((r) => (settled = { tries: r.tries, message: r.outcome.ok ? 'ok' : r.outcome.message }));
  await flush();
  expect(held.calls).toBe(1);
  expect(settled).toBeUndefined();

  budget.abort();
  await flush();
  expect(settled?.tries).toBe(1);
  expect(settled?.message).toContain('budget ran out');
  expect(held.calls).toBe(1);
});

it('a retry that is still waiting when the budget runs out is the last try', async () => {
  const held = heldClient();
  const budget = new AbortController();
  let tries = 0;
  void authenticate(held.client, REQUEST, {
    retries: 5,
    backoffMs: 10,
    budgetMs: 300_000,
    sleep: async () => undefined,
    now: () => 0,
    deadline: () => budget.signal,
  }).then((r) => (tries = r.tries));
  await flush();
  // The first try fails transiently (HTTP 503 without JSON): retried.
  held.answerNext({ kind: 'unparseable', status: 503, detail: 'Service Unavailable' });
  await flush();
  expect(held.calls).toBe(2);
  budget.abort();
  await flush();
  expect(tries).toBe(2);
  expect(held.calls).toBe(2);
});
