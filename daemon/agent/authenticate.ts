import { sleepOn, systemTimers } from '../../shared/clock';
import type { AuthClient } from '../protocol/auth-client';
import { classify, type Outcome } from '../protocol/classify';

/**
 * One attempt (SPEC R2): a call to /v1/authenticate, retried on transient failures
 * (cannot connect, timeout, HTTP 5xx, 20001, 20002) up to `retries` times with
 * exponential backoff, all within `budgetMs`. The attempt's result is its last try's.
 */

export interface AuthenticateRequest {
  account: string;
  password: string;
  project: string;
  node: { id: string; ip: string; domain: string; appName: string };
  version: string;
  requestId: string;
}

export interface RetryPolicy {
  retries: number;
  /** First backoff; doubles each retry. */
  backoffMs: number;
  /** The whole attempt, retries included, ends within this. */
  budgetMs: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds now; injectable for tests. */
  now?: () => number;
  /** A signal that aborts after `ms`; injectable for tests (default AbortSignal.timeout). */
  deadline?: (ms: number) => AbortSignal;
}

export const ATTEMPT_BUDGET_MS = 5 * 60_000;

export async function authenticate(
  client: AuthClient,
  request: AuthenticateRequest,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<{ outcome: Outcome; tries: number }> {
  const sleep = policy.sleep ?? ((ms: number, s?: AbortSignal) => sleepOn(systemTimers, ms, s));
  const now = policy.now ?? Date.now;
  const deadline = policy.deadline ?? ((ms: number) => AbortSignal.timeout(ms));
  const started = now();
  // The budget bounds the tries too, not only the sleeps between them: a try still
  // waiting for an answer when it runs out is cut there.
  const budget = deadline(policy.budgetMs);
  const trySignal = signal ? AbortSignal.any([signal, budget]) : budget;
  let tries = 0;
  for (;;) {
    tries += 1;
    const body = { ...request, sentAt: new Date().toISOString() };
    const answered = classify(await client.post('/v1/authenticate', body, trySignal));
    const outcome =
      budget.aborted && !answered.ok
        ? { ...answered, message: `${answered.message} (the attempt's ${Math.round(policy.budgetMs / 1000)} s budget ran out)` }
        : answered;
    if (outcome.ok || !outcome.transient || tries > policy.retries || signal?.aborted || budget.aborted) return { outcome, tries };
    // Jitter spreads the retries of a cluster that failed together.
    const backoff = policy.backoffMs * 2 ** (tries - 1) * (0.75 + Math.random() * 0.5);
    if (now() - started + backoff >= policy.budgetMs) return { outcome, tries };
    await sleep(backoff, signal);
  }
}
