import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Redis, { Cluster } from 'ioredis';
import { STALL_MS } from '../../harness/noise-budget';
import { freePort } from '../../harness/ports';
import { waitFor } from '../../harness/wait';
import { startRedis, type RedisServerOptions, type TestRedis } from '../../harness/redis-server';

/**
 * A Redis Cluster for tests: `primaries` redis-server processes with
 * `--cluster-enabled yes` on free loopback ports (and, with `replicas: 1`, one replica
 * of each), their cluster bus on a free port of its own (`cluster-port`, so the bus
 * never lands on port + 10000 above 65535), joined and given the 16384 slots by
 * `redis-cli --cluster create`. With `tls`, every node serves TLS only (clients, bus
 * and replication); with `password`, every node requires it. Each server is a
 * TestRedis of the standard harness, so it is tracked and disposed with disposeAllRedis().
 */
export interface ClusterOptions extends Pick<RedisServerOptions, 'tls' | 'password'> {
  /** Replicas per primary (0 or 1). */
  replicas?: 0 | 1;
}

export interface TestCluster {
  /** Every node in start order: primaries first, then replicas (roles change after a fail-over). */
  readonly nodes: readonly TestRedis[];
  /** `host:port,...` of every node, for CLOUDAUTH_REDIS_CLUSTER_NODES. */
  readonly nodeList: string;
  /** A cluster client for test assertions (the caller disconnects it). */
  /** A client of the cluster, ready; it queues nothing while the cluster is not (it fails, so polls retry). */
  client(): Promise<Cluster>;
  /** The node that serves the slot of `key` now (its primary). */
  nodeForKey(key: string): Promise<TestRedis>;
  /** Resolves once every running node reports cluster_state:ok and every slot has a running primary. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
}

const run = promisify(execFile);

function cliSecurityArgs(options: ClusterOptions): string[] {
  const files = options.tls?.files;
  const tls = files ? ['--tls', '--cacert', files.caFile, '--cert', files.clientCertFile, '--key', files.clientKeyFile] : [];
  return [...tls, ...(options.password ? ['--no-auth-warning', '-a', options.password] : [])];
}

async function withNode<T>(node: TestRedis, work: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    ...node.clientOptions(),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
    commandTimeout: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    client.disconnect();
  }
}

type SlotRange = [number, number, [string, number, ...unknown[]], ...unknown[]];

export async function startRedisCluster(primaries = 3, options: ClusterOptions = {}): Promise<TestCluster> {
  const replicas = options.replicas ?? 0;
  const nodes: TestRedis[] = [];
  for (let i = 0; i < primaries * (1 + replicas); i++) {
    const busPort = await freePort();
    nodes.push(
      await startRedis({
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(STALL_MS + 1000),
          '--cluster-port',
          String(busPort),
        ],
        tls: options.tls,
        password: options.password,
      }),
    );
  }
  const addresses = nodes.map((n) => `${n.host}:${n.port}`);
  await run('redis-cli', [...cliSecurityArgs(options), '--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], {
    timeout: 30_000,
  });

  const waitUntilHealthy = async (timeoutMs = 30_000) => {
    await waitFor(
      'every running cluster node to report cluster_state:ok, every replica in sync',
      async () => {
        for (const node of nodes.filter((n) => n.running)) {
          const healthy = await withNode(node, async (client) => {
            const info = await client.cluster('INFO');
            if (!/cluster_state:ok/.test(info)) return false;
            const replication = await client.info('replication');
            return !/role:slave/.test(replication) || /master_link_status:up/.test(replication);
          });
          if (!healthy) return false;
        }
        // Every slot served by a running primary (a dead one may still be listed until failed over).
        const first = nodes.find((n) => n.running) as TestRedis;
        const slots = await withNode(first, async (client) => (await client.cluster('SLOTS')) as unknown as SlotRange[]);
        const covered = slots.reduce((sum, [from, to]) => sum + (to - from + 1), 0);
        return covered === 16384 && slots.every((range) => nodes.some((n) => n.running && n.port === Number(range[2][1])));
      },
      timeoutMs,
      200,
    );
  };
  await waitFor(
    'every cluster node to know all the others',
    async () => {
      for (const node of nodes) {
        const known = await withNode(node, async (client) => Number(/cluster_known_nodes:(\d+)/.exec(await client.cluster('INFO'))?.[1]));
        if (known !== nodes.length) return false;
      }
      return true;
    },
    30_000,
    200,
  );
  await waitUntilHealthy();
  const seeds = nodes.map((n) => ({ host: n.host, port: n.port }));
  const first = nodes[0] as TestRedis;
  const security = first.clientOptions();
  return {
    nodes,
    nodeList: addresses.join(','),
    // A command timeout, and no offline queue (ioredis starts a command's timeout only
    // once a node has it), so a test polling through the cluster during a fail-over
    // gets an error to retry on rather than a command queued forever.
    client: async () => {
      const client = new Cluster(seeds, {
        enableOfflineQueue: false,
        redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 5000, tls: security.tls, password: security.password },
      });
      client.on('error', () => undefined);
      await waitFor('the test cluster client to be ready', () => client.status === 'ready', 30_000, 50);
      return client;
    },
    nodeForKey: async (key: string) => {
      const through = nodes.find((n) => n.running) as TestRedis;
      return withNode(through, async (client) => {
        const slot = Number(await client.cluster('KEYSLOT', key));
        const slots = (await client.cluster('SLOTS')) as unknown as SlotRange[];
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        const owner = nodes.find((n) => n.port === Number(range?.[2][1]));
        if (!owner) throw new Error(`no node serves slot ${slot}`);
        return owner;
      });
    },
    waitUntilHealthy,
  };
}
