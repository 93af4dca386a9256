import { SCHEDULER_ID, slotAttemptId } from '../../daemon/agent/schedule';
import { startCaughtUpAgent } from '../support/agent-harness';
import { waitFor } from '../../harness/wait';
import { useRedisForAgents } from '../support/agent-suite';

/**
 * Redis loses its data without dropping the connection (FLUSHALL), in this process (the
 * slot timer on a fake clock, Redis and BullMQ real): at the next slot the agent finds
 * the slot neither recorded nor held by BullMQ, puts the schedule back, runs the
 * recovery step — credential, record, failed verdict — and only then authenticates, or
 * refuses to when the project it restored is failed (R5); the recovery step tells the
 * agent, which is not ready until the next slot has put the schedule back.
 */
jest.setTimeout(30_000);

const suite = useRedisForAgents();

const runningAgent = () => startCaughtUpAgent(suite, 'loss');

it('after FLUSHALL, restores what the node holds and its schedule at the next slot, then authenticates on it', async () => {
  const { a, keys } = await runningAgent();
  await suite.admin.flushall();
  const slot = (a.clock.nextDue() as number) - 30_000;
  await a.clock.advanceToNext();
  await waitFor('the slot recorded', async () => (await suite.admin.zscore(keys.attempts('n1'), slotAttemptId(slot))) !== null, 10_000, 20);
  expect(a.logs()).toContain('The schedule missed a heartbeat slot: authenticating now and restoring the schedule');
  expect(await suite.admin.hget(keys.credential, 'account')).toBe('acct');
  // The record went on from what the node held: the catch-up and this slot.
  expect(await suite.admin.hget(keys.node('n1'), 'attemptsTotal')).toBe('2');
  expect((await suite.admin.hget(keys.recovery, 'node:n1'))?.split(',').sort()).toEqual(['credential', 'node']);
  expect(await a.queue().getJobScheduler(SCHEDULER_ID)).toBeDefined();
});

it('puts a failed verdict back after FLUSHALL and refuses to authenticate until `register`', async () => {
  const { a, keys } = await runningAgent();
  await suite.admin.hset(keys.status, { status: 'failed', since: '1', epoch: '1', failedAt: '1', generation: '1' });
  // The daemon calls this on the leader's status event: every node holds the verdict.
  await a.agent.noteVerdict();
  await suite.admin.flushall();
  await a.clock.advanceToNext();
  await waitFor('the verdict restored', async () => (await suite.admin.hget(keys.status, 'status')) === 'failed', 10_000, 20);
  await waitFor('the attempt refused', () => a.logs().includes('Project is marked failed: not authenticating until it is registered again'), 10_000, 20);
  expect(await suite.admin.hget(keys.node('n1'), 'attemptsTotal')).toBe('1');
  expect(a.auth.calls).toBe(1);
});

it('is not ready after a loss found mid-attempt until the next slot puts the schedule back', async () => {
  const { a, keys } = await runningAgent();
  expect(a.agent.ready).toBe(true);
  await suite.admin.flushall();
  const slot = (a.clock.nextDue() as number) - 30_000;
  await a.clock.advanceToNext();
  await waitFor('the slot recorded', async () => (await suite.admin.zscore(keys.attempts('n1'), slotAttemptId(slot))) !== null, 10_000, 20);
  // The recovery step during the attempt told the agent: BullMQ's schedule may have gone with the data.
  await waitFor('the agent not ready', () => !a.agent.ready, 10_000, 20);
  await a.clock.advanceToNext();
  await waitFor('the agent ready again', () => a.agent.ready, 10_000, 20);
  expect(await a.queue().getJobScheduler(SCHEDULER_ID)).toBeDefined();
});
