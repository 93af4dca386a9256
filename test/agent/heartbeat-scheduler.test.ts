import Redis from 'ioredis';
import { HeartbeatScheduler } from '../../daemon/agent/heartbeat-scheduler';
import { systemClock, systemTimers } from '../../shared/clock';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';

/**
 * Whether the node's schedule is in place (half of GET /readyz) is the scheduler's own
 * state: in place once ensure() upserted the job scheduler, not in place after
 * markNotInPlace() (Redis dropped or lost data) until ensure() runs again. Real Redis
 * and BullMQ.
 */
jest.setTimeout(30_000);

let connection: Redis;

beforeAll(async () => {
  connection = new Redis((await startRedis()).url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  connection?.disconnect();
  await disposeAllRedis();
});

it('is in place after ensure(), not after markNotInPlace(), and again after the next ensure()', async () => {
  const s = new HeartbeatScheduler({
    clock: systemClock,
    timers: systemTimers,
    nodeId: 'n1',
    bullPrefix: testPrefix('place'),
    connection,
    intervalMs: 60_000,
    offsetMs: 0,
  });
  s.start({ job: async () => undefined, slot: () => undefined, error: () => undefined, failed: () => undefined });
  try {
    expect(s.inPlace).toBe(false);
    await s.ensure();
    expect(s.inPlace).toBe(true);
    s.markNotInPlace();
    expect(s.inPlace).toBe(false);
    await s.ensure();
    expect(s.inPlace).toBe(true);
  } finally {
    await s.closeWorker(true);
    await s.closeQueue();
  }
});
