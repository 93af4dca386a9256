import { closeAllAuthServers } from '../../harness/authserver';
import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';

/**
 * The usual set-up of a reference-server suite: one real Redis for the file, and every
 * authorization server and Redis the file started closed after it. Jest hooks, so only
 * for test files (the benchmarks compile harness/ without jest's globals).
 */
export function useRedisForAuthServers(): { readonly redis: TestRedis } {
  const suite = {} as { redis: TestRedis };
  beforeAll(async () => {
    suite.redis = await startRedis();
  });
  afterAll(async () => {
    await closeAllAuthServers();
    await disposeAllRedis();
  });
  return suite;
}
