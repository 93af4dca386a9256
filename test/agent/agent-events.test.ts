import type { ChangeEvent } from '../../shared/redis/change-events';
import { startCaughtUpAgent } from '../support/agent-harness';
import { useRedisForAgents } from '../support/agent-suite';
import { waitFor } from '../../harness/wait';

/**
 * The agent's own reactions to change events (Agent.hear; the daemon only hands them
 * on): `registered` queues an attempt at once under one job id per generation, a
 * `failed` status makes the node hold the verdict (put back after a loss of Redis
 * data), the other events move nothing of the agent's, and a reaction that cannot
 * reach Redis is logged, never thrown. Real Redis and BullMQ, time on the fake clock.
 */
jest.setTimeout(30_000);

const suite = useRedisForAgents();

const runningAgent = () => startCaughtUpAgent(suite, 'hear');

it('authenticates at once on `registered`, once per generation', async () => {
  const { a, keys } = await runningAgent();
  await a.agent.hear({ type: 'registered', generation: 4, registration: 'r4' });
  await a.agent.hear({ type: 'registered', generation: 4, registration: 'r4' });
  await waitFor('the attempt after registration recorded', async () => (await suite.admin.zscore(keys.attempts('n1'), 'registered-r4')) !== null, 10_000, 20);
  expect(await a.queue().getJob('registered-r4')).toBeDefined();
  expect(a.auth.calls).toBe(2);
});

it('holds a `failed` verdict it hears of, and puts it back after Redis lost it', async () => {
  const { a, keys } = await runningAgent();
  await suite.admin.hset(keys.status, { status: 'failed', since: '1', epoch: '1', failedAt: '1', generation: '1' });
  await a.agent.hear({ type: 'status', status: 'failed', epoch: 1 });
  await suite.admin.flushall();
  await a.clock.advanceToNext();
  await waitFor('the verdict restored', async () => (await suite.admin.hget(keys.status, 'status')) === 'failed', 10_000, 20);
  expect(await suite.admin.hget(keys.recovery, 'node:n1')).toContain('status');
});

it('reads nothing and queues nothing on the events that are not its own', async () => {
  const { a } = await runningAgent();
  const jobsBefore = (await a.queue().getJobs(['wait', 'delayed', 'active', 'completed'])).length;
  a.redis.disconnect();
  // With its connection gone, a read or a job would be a logged failure: there is none.
  const others: ChangeEvent[] = [
    { type: 'attempt', node: 'n2', attemptId: 'x', ok: true },
    { type: 'node-removed', node: 'n2' },
    { type: 'restored', node: 'n2', restored: ['node'] },
    { type: 'status', status: 'degraded', epoch: 2 },
    { type: 'leader-released', instance: 'n2:h:1:ab', epoch: 2 },
  ];
  for (const event of others) await a.agent.hear(event);
  expect(a.logs().filter((line) => line.startsWith('Could not'))).toEqual([]);
  expect((await a.queue().getJobs(['wait', 'delayed', 'active', 'completed'])).length).toBe(jobsBefore);
});

it('logs, never throws, when the reaction cannot reach Redis', async () => {
  const { a } = await runningAgent();
  a.redis.disconnect();
  await expect(a.agent.hear({ type: 'status', status: 'failed', epoch: 3 })).resolves.toBeUndefined();
  expect(a.logs()).toContain('Could not read the failed verdict');
});
