import { ProjectKeys } from '../../shared/redis/keys';
import { startAgent, storeCredential } from '../support/agent-harness';
import { OK_ANSWER } from '../support/held-auth-client';
import { waitFor } from '../../harness/wait';
import { testPrefix } from '../../harness/redis-server';
import { useRedisForAgents } from '../support/agent-suite';

/**
 * Shutdown in the middle of an attempt, in this process (the close grace on a fake
 * clock, Redis and BullMQ real): an attempt that ends within the grace is recorded;
 * one that outlasts it is abandoned unrecorded and BullMQ retries it under the same
 * id, so the next agent of the node counts it once. (SIGTERM's exit code: shutdown.test.)
 */
jest.setTimeout(30_000);

const GRACE = 10_000;
const suite = useRedisForAgents();

async function agentWithAttemptUnderWay(keyPrefix: string) {
  const keys = new ProjectKeys(keyPrefix, 'p');
  await storeCredential(suite.admin, keys);
  const a = await startAgent({ redisUrl: suite.url, keyPrefix, closeGraceMs: GRACE });
  // The catch-up attempt (no record yet) reaches the server and waits for its answer.
  await a.auth.called(1);
  return { a, keys };
}

it('lets an attempt that ends within the grace finish, and records it', async () => {
  const { a, keys } = await agentWithAttemptUnderWay(testPrefix('stop'));
  const closing = a.agent.close();
  await a.clock.advance(GRACE - 1);
  expect(a.agent.status).toBe('STOPPING');
  a.auth.answerNext(OK_ANSWER);
  await closing;
  expect(a.agent.status).toBe('STOPPED');
  expect(await suite.admin.zrange(keys.attempts('n1'), '0', '-1')).toEqual(['catchup-none']);
  expect(a.logs()).not.toContain('Attempt abandoned by shutdown');
});

it('abandons an attempt that outlasts the grace, unrecorded; BullMQ retries it under the same id and the next agent counts it once', async () => {
  const keyPrefix = testPrefix('stop');
  const { a, keys } = await agentWithAttemptUnderWay(keyPrefix);
  const closing = a.agent.close();
  await a.clock.advance(GRACE);
  await closing;
  expect(a.logs()).toContain('Attempt abandoned by shutdown');
  expect(await suite.admin.exists(keys.attempts('n1'))).toBe(0);
  // The job failed its first try and waits for its retry, same id.
  const job = await a.queue().getJob('catchup-none');
  expect(job?.attemptsMade).toBe(1);
  expect(['delayed', 'waiting']).toContain(await job?.getState());

  const next = await startAgent({ redisUrl: suite.url, keyPrefix });
  next.auth.auto = OK_ANSWER;
  await waitFor(
    'the abandoned attempt re-run and recorded',
    async () => (await suite.admin.zrange(keys.attempts('n1'), '0', '-1')).includes('catchup-none'),
    15_000,
    20,
  );
  expect(await suite.admin.zrange(keys.attempts('n1'), '0', '-1')).toEqual(['catchup-none']);
  expect(await suite.admin.hget(keys.node('n1'), 'attemptsTotal')).toBe('1');
});
