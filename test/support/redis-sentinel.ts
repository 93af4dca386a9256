import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { STALL_MS } from '../../harness/noise-budget';
import { freePort } from '../../harness/ports';
import { waitFor, waitForPort } from '../../harness/wait';
import { track } from '../../harness/process-registry';
import { startRedis, type TestRedis } from '../../harness/redis-server';
import type { CertificateFiles } from '../../harness/tls';

/**
 * A Sentinel-monitored Redis for fail-over tests: a primary, one replica and three
 * sentinels (quorum 2), all real redis-server processes on free loopback ports. The
 * detection and fail-over timeouts are small so a fail-over takes a few seconds.
 * Replication is asynchronous and no `min-replicas`/`WAIT` is configured, as a default
 * Sentinel site runs it: a write acknowledged by the primary just before it dies may
 * be missing on the promoted replica. Everything is tracked and disposed by
 * disposeSentinelGroups() (and the process registry if a test dies).
 */
export interface SentinelGroupOptions {
  /** Name of the monitored primary; default 'mymaster'. */
  name?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  /**
   * Where the replica connects to replicate, given the primary's port (default: the
   * primary itself). A test passes a proxy here to hold back the replication stream.
   */
  replicaLink?: (primaryPort: number) => Promise<number>;
}

export interface TestSentinel {
  readonly port: number;
  readonly running: boolean;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export interface SentinelGroup {
  readonly name: string;
  /** The servers, in start order: [first primary, first replica]. Roles change after a fail-over. */
  readonly servers: readonly TestRedis[];
  readonly sentinels: readonly TestSentinel[];
  /** `host:port,host:port,host:port`, for CLOUDAUTH_REDIS_SENTINELS. */
  readonly sentinelList: string;
  /** The primary the sentinels announce now. */
  currentPrimary(): Promise<{ host: string; port: number }>;
  /** The server that is primary now (by the sentinels' word). */
  primaryServer(): Promise<TestRedis>;
  /** Resolves once the sentinels announce a primary other than `port` and it answers as master. */
  waitForFailover(fromPort: number, timeoutMs?: number): Promise<{ host: string; port: number }>;
  dispose(): Promise<void>;
}

export class SentinelProcess implements TestSentinel {
  private child: ChildProcess | undefined;
  private readonly dir: string;

  constructor(
    readonly port: number,
    private readonly conf: string,
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-sentinel-'));
  }

  get running(): boolean {
    return Boolean(this.child && this.child.exitCode === null && this.child.signalCode === null);
  }

  async start(): Promise<void> {
    // Sentinel rewrites its configuration file as it learns; each sentinel owns one.
    const file = path.join(this.dir, 'sentinel.conf');
    writeFileSync(file, this.conf);
    const child = spawn('redis-server', [file, '--sentinel'], { stdio: ['ignore', 'ignore', 'pipe'] });
    track(child);
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`sentinel on port ${this.port} exited with ${code}: ${stderr.trim()}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPort(this.port, 10_000), exited]);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const groups: SentinelGroup[] = [];

async function askSentinels(ports: number[], name: string): Promise<{ host: string; port: number } | null> {
  for (const port of ports) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const reply = (await client.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
      if (reply) return { host: reply[0], port: Number(reply[1]) };
    } catch {
      /* try the next sentinel */
    } finally {
      client.disconnect();
    }
  }
  return null;
}

async function role(port: number): Promise<string | null> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const reply = (await client.role()) as unknown[];
    return String(reply[0]);
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

export async function startSentinelGroup(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const name = options.name ?? 'mymaster';
  // Longer than the noise budget's stall: a primary stalled for 3 s is not failed over.
  const downAfter = options.downAfterMs ?? STALL_MS + 1000;
  const failoverTimeout = options.failoverTimeoutMs ?? 3000;
  const primary = await startRedis();
  // A replica of the primary; after a fail-over the sentinels reconfigure both.
  const linkPort = options.replicaLink ? await options.replicaLink(primary.port) : primary.port;
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(linkPort), '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'] });
  await waitFor(
    'the replica to finish its first sync',
    async () => {
      const client = new Redis({ port: replica.port, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true });
      try {
        await client.connect();
        return /master_link_status:up/.test(await client.info('replication'));
      } finally {
        client.disconnect();
      }
    },
    15_000,
    100,
  );
  const sentinels: SentinelProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = [
      `port ${port}`,
      'bind 127.0.0.1',
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${name} ${downAfter}`,
      `sentinel failover-timeout ${name} ${failoverTimeout}`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n');
    const sentinel = new SentinelProcess(port, conf);
    await sentinel.start();
    sentinels.push(sentinel);
  }
  const ports = sentinels.map((s) => s.port);
  // Sentinels must have found each other and the replica before a fail-over can work.
  await waitFor(
    'the sentinels to know each other and the replica',
    async () => {
      for (const port of ports) {
        const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true });
        try {
          await client.connect();
          const info = (await client.call('SENTINEL', 'master', name)) as string[];
          const field = (k: string) => Number(info[info.indexOf(k) + 1]);
          if (field('num-other-sentinels') < 2 || field('num-slaves') < 1) return false;
        } finally {
          client.disconnect();
        }
      }
      return true;
    },
    20_000,
    200,
  );
  const servers = [primary, replica];
  const group: SentinelGroup = {
    name,
    servers,
    sentinels,
    sentinelList: ports.map((p) => `127.0.0.1:${p}`).join(','),
    currentPrimary: async () => {
      const addr = await askSentinels(ports, name);
      if (!addr) throw new Error('no sentinel answered');
      return addr;
    },
    primaryServer: async () => {
      const addr = await group.currentPrimary();
      const server = servers.find((s) => s.port === addr.port);
      if (!server) throw new Error(`sentinels announce an unknown primary ${addr.host}:${addr.port}`);
      return server;
    },
    waitForFailover: async (fromPort, timeoutMs = 30_000) =>
      (await waitFor(
        `a fail-over away from port ${fromPort}`,
        async () => {
          const addr = await askSentinels(ports, name);
          if (!addr || addr.port === fromPort) return null;
          return (await role(addr.port)) === 'master' ? addr : null;
        },
        timeoutMs,
        100,
      )) as { host: string; port: number },
    dispose: async () => {
      await Promise.all(sentinels.map((s) => s.dispose()));
      await Promise.all(servers.map((s) => s.dispose().catch(() => undefined)));
    },
  };
  groups.push(group);
  return group;
}

/** For afterAll: stops every sentinel group a test started (sentinels first, then servers). */
export async function disposeSentinelGroups(): Promise<void> {
  await Promise.all(groups.splice(0).map((g) => g.dispose().catch(() => undefined)));
}

export interface SecuredSentinelOptions {
  /** Port of the primary as the sentinel should reach it (a test may put a proxy there). */
  primaryPort: number;
  files: CertificateFiles;
  /** The primary's password (sentinel auth-pass). */
  password: string;
  /** The sentinel's own password (requirepass). */
  sentinelPassword: string;
  name?: string;
}

/**
 * One sentinel (quorum 1) serving TLS only and requiring a password, watching a
 * primary over TLS: enough to check how a client finds and reaches a primary through
 * a secured Sentinel, not for fail-over (startSentinelGroup does that).
 */
export async function startSecuredSentinel(options: SecuredSentinelOptions): Promise<SentinelProcess> {
  const name = options.name ?? 'mymaster';
  const port = await freePort();
  const { files } = options;
  const conf = [
    'port 0',
    `tls-port ${port}`,
    'bind 127.0.0.1',
    `tls-cert-file ${files.certFile}`,
    `tls-key-file ${files.keyFile}`,
    `tls-ca-cert-file ${files.caFile}`,
    'tls-auth-clients yes',
    'tls-replication yes',
    `requirepass ${options.sentinelPassword}`,
    `sentinel monitor ${name} 127.0.0.1 ${options.primaryPort} 1`,
    `sentinel auth-pass ${name} ${options.password}`,
    '',
  ].join('\n');
  const sentinel = new SentinelProcess(port, conf);
  await sentinel.start();
  securedSentinels.push(sentinel);
  return sentinel;
}

const securedSentinels: SentinelProcess[] = [];

/** For afterAll: stops every sentinel startSecuredSentinel() started. */
export async function disposeSecuredSentinels(): Promise<void> {
  await Promise.all(securedSentinels.splice(0).map((s) => s.dispose().catch(() => undefined)));
}
