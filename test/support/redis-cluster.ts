import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Redis, { Cluster } from 'ioredis';
import { freePort, waitFor } from './ports';
import { startRedis, type TestRedis } from './redis-server';

/**
 * A three-primary Redis Cluster for tests (no replicas): three redis-server processes
 * with `--cluster-enabled yes` on free loopback ports, their cluster bus on a free
 * port of its own (`cluster-port`, so the bus never lands on port + 10000 above
 * 65535), joined and given the 16384 slots by `redis-cli --cluster create`.
 * Each server is a TestRedis of the standard harness, so it is tracked and disposed
 * with disposeAllRedis().
 */
export interface TestCluster {
  readonly nodes: readonly TestRedis[];
  /** `host:port,host:port,host:port`, for CLOUDAUTH_REDIS_CLUSTER_NODES. */
  readonly nodeList: string;
  /** A cluster client for test assertions (the caller disconnects it). */
  client(): Cluster;
  /** The node that serves the slot of `key`. */
  nodeForKey(key: string): Promise<TestRedis>;
}

const run = promisify(execFile);

export async function startRedisCluster(size = 3): Promise<TestCluster> {
  const nodes: TestRedis[] = [];
  for (let i = 0; i < size; i++) {
    const busPort = await freePort();
    nodes.push(
      await startRedis({
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--cluster-port', String(busPort)],
      }),
    );
  }
  const addresses = nodes.map((n) => `${n.host}:${n.port}`);
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
  await waitFor(
    'every cluster node to report cluster_state:ok',
    async () => {
      for (const node of nodes) {
        const client = new Redis({ port: node.port, host: node.host, lazyConnect: true, maxRetriesPerRequest: 0 });
        try {
          await client.connect();
          const info = await client.cluster('INFO');
          if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:(\d+)/.exec(info) || Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]) !== size) return false;
        } finally {
          client.disconnect();
        }
      }
      return true;
    },
    30_000,
    200,
  );
  const seeds = nodes.map((n) => ({ host: n.host, port: n.port }));
  return {
    nodes,
    nodeList: addresses.join(','),
    client: () => new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: 1 } }),
    nodeForKey: async (key: string) => {
      const first = nodes[0] as TestRedis;
      const client = new Redis({ port: first.port, host: first.host, maxRetriesPerRequest: 0 });
      try {
        const slot = Number(await client.cluster('KEYSLOT', key));
        const slots = (await client.cluster('SLOTS')) as unknown as Array<[number, number, [string, number, ...unknown[]]]>;
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        const owner = nodes.find((n) => n.port === Number(range?.[2][1]));
        if (!owner) throw new Error(`no node serves slot ${slot}`);
        return owner;
      } finally {
        client.disconnect();
      }
    },
  };
}
