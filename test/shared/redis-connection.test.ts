import { closeRedis, connectOrExplain, createRedis, RedisUnreachableError } from '../../shared/redis/connection';
import { freePort } from '../../harness/ports';
import { redisConfig } from '../../harness/sidecar-parts';

/**
 * A CLI connection that Redis refuses must leave nothing that keeps the process
 * alive: `fdl-cloudauth status` against a stopped Redis exits as soon as it has said
 * so. (ioredis arms a 2 s timer in disconnect() that only the socket's next 'close'
 * clears; called on a socket already closed, it held the CLI for those 2 s.)
 */
it('a refused CLI connection is reported and, once closed, leaves no timer holding the process', async () => {
  const port = await freePort();
  const cfg = redisConfig(`redis://127.0.0.1:${port}`, 'p');
  const armed: Array<{ timer: NodeJS.Timeout; ms: number | undefined }> = [];
  const cleared = new Set<unknown>();
  const realSet = global.setTimeout;
  const realClear = global.clearTimeout;
  const set = jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
    const timer = realSet(fn, ms);
    armed.push({ timer, ms });
    return timer;
  }) as typeof setTimeout);
  const clear = jest.spyOn(global, 'clearTimeout').mockImplementation((timer) => {
    cleared.add(timer);
    realClear(timer);
  });
  try {
    const client = createRedis(cfg, { purpose: 'cli', lazyConnect: true });
    client.on('error', () => undefined);
    await expect(connectOrExplain(client, cfg)).rejects.toThrow(RedisUnreachableError);
    await closeRedis(client);
    expect(client.status).toBe('end');
  } finally {
    set.mockRestore();
    clear.mockRestore();
  }
  // Still armed and referenced: each would keep a CLI process alive for its delay.
  const holding = armed.filter((a) => !cleared.has(a.timer) && a.timer.hasRef());
  for (const a of holding) realClear(a.timer);
  expect(holding.map((a) => a.ms)).toEqual([]);
});
