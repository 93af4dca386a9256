import { catchUpJobId } from '../../daemon/agent/heartbeat-scheduler';
import { startAgent, storeCredential } from '../support/agent-harness';
import { OK_ANSWER } from '../support/held-auth-client';
import { waitFor } from '../../harness/wait';
import { testPrefix } from '../../harness/redis-server';
import { useRedisForAgents } from '../support/agent-suite';
import { ProjectKeys } from '../../shared/redis/keys';

/**
 * R1's catch-up, in this process on a real Redis and BullMQ (the agent's own time on a
 * fake clock): a node whose last attempt is an interval old authenticates at once, one
 * whose last attempt is recent waits for its slot, and a node restarted after `unbind`
 * catches up again although its first catch-up's job id (`catchup-none`) is still kept
 * by BullMQ as completed.
 */
jest.setTimeout(30_000);

const suite = useRedisForAgents();

const recorded = (keys: ProjectKeys, node = 'n1') => suite.admin.zrange(keys.attempts(node), '0', '-1');

it('authenticates at once without a last attempt, and again after `unbind` within two intervals (catchup-none reused)', async () => {
  const keyPrefix = testPrefix('catchup');
  const keys = new ProjectKeys(keyPrefix, 'p');
  await storeCredential(suite.admin, keys);
  const first = await startAgent({ redisUrl: suite.url, keyPrefix });
  first.auth.auto = OK_ANSWER;
  await waitFor('the catch-up recorded', async () => (await recorded(keys)).includes('catchup-none'), 10_000, 20);
  await first.close();

  // What `unbind` leaves (remove-node-6.lua): no record, no ids, the node marked removed.
  await suite.admin.multi().del(keys.node('n1'), keys.attempts('n1')).zrem(keys.nodes, 'n1').sadd(keys.removed, 'n1').exec();
  // Set up again without its local state (a fresh journal dir), as after a reinstall.
  const again = await startAgent({ redisUrl: suite.url, keyPrefix });
  again.auth.auto = OK_ANSWER;
  await waitFor('a catch-up recorded after the restart', async () => (await recorded(keys)).includes('catchup-none'), 10_000, 20);
  expect(await suite.admin.hget(keys.node('n1'), 'attemptsTotal')).toBe('1');
  expect(again.logs()).toContain('Last attempt is older than one interval: authenticating now');
});

it('catches up when the last attempt is an interval old, under an id replicas share, and not when it is recent', async () => {
  const keyPrefix = testPrefix('catchup');
  const keys = new ProjectKeys(keyPrefix, 'p');
  await storeCredential(suite.admin, keys);
  const [seconds] = await suite.admin.time();
  const now = Number(seconds) * 1000;

  await suite.admin.hset(keys.node('n1'), { lastAttemptAt: String(now - 2 * 3_600_000), lastAttemptId: 'slot:42' });
  const stale = await startAgent({ redisUrl: suite.url, keyPrefix });
  stale.auth.auto = OK_ANSWER;
  await waitFor('the catch-up recorded', async () => (await recorded(keys)).includes(catchUpJobId('slot:42')), 10_000, 20);
  await stale.close();

  // The catch-up just made is the last attempt now: a restart makes no new one.
  const recent = await startAgent({ redisUrl: suite.url, keyPrefix, journalDir: stale.config.journal.dir });
  const lastId = await suite.admin.hget(keys.node('n1'), 'lastAttemptId');
  expect(await recent.queue().getJob(catchUpJobId(lastId))).toBeUndefined();
  expect(recent.logs()).not.toContain('Last attempt is older than one interval: authenticating now');
  expect(await recorded(keys)).toEqual([catchUpJobId('slot:42')]);
});
