import Redis from 'ioredis';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';

afterAll(disposeAllRedis);

describe('test harness: real redis-server processes', () => {
  it('starts, pauses, kills and restarts a server on the same port', async () => {
    const server = await startRedis();
    const client = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    try {
      const key = `${testPrefix()}:k`;
      await client.set(key, 'v');
      expect(await client.get(key)).toBe('v');

      server.pause();
      const stalled = await Promise.race([client.ping().then(() => 'answered'), new Promise((r) => setTimeout(() => r('stalled'), 300))]);
      expect(stalled).toBe('stalled');
      server.resume();
      expect(await client.ping()).toBe('PONG');

      await server.kill();
      expect(server.running).toBe(false);
      await server.restart();
      expect(server.running).toBe(true);
      // No persistence: a killed server comes back empty, as a Redis that lost its data.
      await expect(client.get(key)).resolves.toBeNull();
      await client.set(key, 'w');
      await server.flush();
      expect(await client.get(key)).toBeNull();
    } finally {
      client.disconnect();
    }
  });

  it('gives each call its own key prefix', () => {
    expect(testPrefix()).not.toBe(testPrefix());
  });
});
