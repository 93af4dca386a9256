import { Registry } from 'prom-client';
import { AttemptAbandoned, AttemptRunner, type AttemptRunnerOptions } from '../../daemon/agent/attempt-runner';
import { NodeMetrics } from '../../daemon/metrics/node-metrics';
import { ATTEMPT_BUDGET_MS } from '../../daemon/agent/authenticate';
import type { CachedCredential } from '../../daemon/agent/local-state';
import type { Outcome } from '../../daemon/protocol/classify';
import { createLogger } from '../../shared/logger';
import { FakeClock, settle } from '../../harness/fake-clock';
import type { RawAnswer } from '../../daemon/protocol/auth-client';
import { HeldAuthClient, IP_REFUSED, OK_ANSWER, UNAVAILABLE } from '../support/held-auth-client';
import { cachedCredential } from '../support/cached-credential';

/**
 * The attempt runner on a fake clock (SPEC R2): credential to classified outcome, the
 * retries' backoff and the attempt's budget on injected timers — nothing sleeps — and
 * the two ways an attempt ends without reaching the server's answer (a credential the
 * node cannot open; shutdown).
 */

const CREDENTIAL: CachedCredential = cachedCredential({ generation: 3 });
const HOUR = 3_600_000;

function runner(intervalMs: number, decrypt: AttemptRunnerOptions['decrypt'] = async () => 'pässword', nodeMetrics?: AttemptRunnerOptions['metrics']) {
  const clock = new FakeClock();
  const auth = new HeldAuthClient();
  const finished: Array<[boolean, string | null]> = [];
  const r = new AttemptRunner({
    config: {
      project: 'p',
      node: { id: 'n1', ip: '10.0.0.1', domain: 'fdl.example.com', appName: 'webroot' },
      product: { version: '4.1.5' },
      heartbeat: { intervalMs, retries: 2, failureThreshold: 12 },
    } as AttemptRunnerOptions['config'],
    authClient: auth.client,
    decrypt,
    metrics: {
      attemptFinished: (ok: boolean, reason: string | null, seconds: number) => {
        finished.push([ok, reason]);
        nodeMetrics?.attemptFinished(ok, reason, seconds);
      },
    },
    clock,
    timers: clock,
    log: createLogger({ level: 'silent' }),
  });
  return { r, clock, auth, finished };
}

/** Runs an attempt in the background; `result()` is its outcome (or error) once settled. */
function start(r: AttemptRunner, signal = new AbortController().signal) {
  let settled: { outcome?: Outcome; error?: unknown } | undefined;
  void r.run(CREDENTIAL, 'slot:1', signal).then(
    (outcome) => (settled = { outcome }),
    (error: unknown) => (settled = { error }),
  );
  return () => settled;
}

it('retries a transient failure after its backoff on the injected timers, and the attempt succeeds', async () => {
  const { r, clock, auth, finished } = runner(2 * HOUR);
  const result = start(r);
  await auth.called(1);
  expect(auth.bodies[0]).toMatchObject({ account: 'acct', password: 'pässword', project: 'p', requestId: 'slot:1' });
  auth.answerNext(UNAVAILABLE);
  await settle();
  // Backing off (1 s ± 25 %): no second call until the clock moves.
  expect(auth.calls).toBe(1);
  await clock.advance(1250);
  await auth.called(2);
  auth.answerNext(OK_ANSWER);
  await settle();
  expect(result()?.outcome).toMatchObject({ ok: true, license: { capacity: 5 } });
  expect(finished).toEqual([[true, null]]);
  // Nothing left waiting: the budget's timer went with the attempt.
  expect(clock.timers).toBe(0);
});

it('does not retry a failure that is not transient', async () => {
  const { r, auth, finished } = runner(2 * HOUR);
  const result = start(r);
  await auth.called(1);
  auth.answerNext(IP_REFUSED);
  await settle();
  expect(result()?.outcome).toMatchObject({ ok: false, code: 30003, name: 'LICENSE_IP_ERROR' });
  expect(auth.calls).toBe(1);
  expect(finished).toEqual([[false, 'LICENSE_IP_ERROR']]);
});

const CAPACITY_REACHED: RawAnswer = {
  kind: 'answer',
  status: 200,
  body: { code: 30007, name: 'REGISTER_OUT_OF_LIMIT', message: 'all 5 registration slots of the account are taken' },
};

it('counts a 30007 answer in fdl_cloudauth_capacity_refusals_total once, not retried, its duration on the injected clock', async () => {
  const registry = new Registry();
  const metrics = new NodeMetrics(registry, 'p', 'n1', { journalPending: () => 0, redisUp: () => true, localStateWritable: () => true });
  const { r, clock, auth, finished } = runner(2 * HOUR, undefined, metrics);
  expect(await registry.metrics()).toContain('fdl_cloudauth_capacity_refusals_total{project="p",node="n1"} 0');

  // A transient failure first, retried: not a refusal.
  const result = start(r);
  await auth.called(1);
  auth.answerNext(UNAVAILABLE);
  await settle();
  await clock.advance(1250);
  await auth.called(2);
  await clock.advance(750);
  auth.answerNext(CAPACITY_REACHED);
  await settle();
  expect(result()?.outcome).toMatchObject({ ok: false, code: 30007, name: 'REGISTER_OUT_OF_LIMIT', transient: false });
  expect(finished).toEqual([[false, 'REGISTER_OUT_OF_LIMIT']]);
  // Not retried: the capacity does not free itself within an attempt.
  expect(auth.calls).toBe(2);
  const text = await registry.metrics();
  expect(text).toContain('fdl_cloudauth_capacity_refusals_total{project="p",node="n1"} 1');
  expect(text).toContain('fdl_cloudauth_authentication_failures_total{project="p",node="n1",reason="REGISTER_OUT_OF_LIMIT"} 1');
  expect(text).toContain('fdl_cloudauth_heartbeat_duration_seconds_sum{project="p",node="n1"} 2');

  // Another reason is no refusal for capacity.
  const second = start(r);
  await auth.called(3);
  auth.answerNext(IP_REFUSED);
  await settle();
  expect(second()?.outcome).toMatchObject({ code: 30003 });
  expect(await registry.metrics()).toContain('fdl_cloudauth_capacity_refusals_total{project="p",node="n1"} 1');
});

it('ends the attempt when its 5-minute budget runs out, cutting the try under way, and does not retry after', async () => {
  const { r, clock, auth } = runner(2 * HOUR);
  const result = start(r);
  await auth.called(1);
  await clock.advance(ATTEMPT_BUDGET_MS - 1);
  expect(result()).toBeUndefined();
  await clock.advance(1);
  expect(result()?.outcome).toMatchObject({ ok: false, name: 'CONNECTION_FAILED', message: expect.stringContaining('budget ran out') });
  await clock.advance(ATTEMPT_BUDGET_MS);
  expect(auth.calls).toBe(1);
});

it('does not start a backoff that would end past the budget (80 % of a short interval)', async () => {
  // 10 s interval: budget 8 s, first backoff 500 ms ± 25 %.
  const { r, clock, auth } = runner(10_000);
  const result = start(r);
  await auth.called(1);
  await clock.advance(7_700);
  auth.answerNext(UNAVAILABLE);
  await settle();
  expect(result()?.outcome).toMatchObject({ ok: false, name: 'CONNECTION_FAILED', transient: true });
  expect(auth.calls).toBe(1);
});

it('records a credential this node cannot open as CREDENTIAL_UNREADABLE naming crypto.keyDir, and sends nothing', async () => {
  const { r, finished, auth } = runner(2 * HOUR, async () => {
    throw new Error('no private key file for key id k');
  });
  const result = start(r);
  await settle();
  expect(result()?.outcome).toEqual({
    ok: false,
    code: null,
    name: 'CREDENTIAL_UNREADABLE',
    message: expect.stringMatching(/^not sent: .*no private key file.*crypto\.keyDir/),
    transient: false,
  });
  expect(auth.calls).toBe(0);
  expect(finished).toEqual([[false, 'CREDENTIAL_UNREADABLE']]);
});

it('abandons an attempt when shutdown aborts it: no outcome, no metric, for BullMQ to run again', async () => {
  const { r, auth, finished, clock } = runner(2 * HOUR);
  const shutdown = new AbortController();
  const result = start(r, shutdown.signal);
  await auth.called(1);
  shutdown.abort();
  await settle();
  expect(result()?.error).toBeInstanceOf(AttemptAbandoned);
  expect(finished).toEqual([]);
  expect(clock.timers).toBe(0);
});
