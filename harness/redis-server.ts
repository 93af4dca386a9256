import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';
import type { CertificateFiles } from './tls';
import { freePort } from './ports';
import { sleep, waitForPort } from './wait';
import { track } from './process-registry';

/**
 * Real Redis servers for tests, on free loopback ports, that a test can stop, kill,
 * pause and restart on the same port. Falls back to testcontainers' Redis module when
 * there is no `redis-server` binary but a Docker engine answers.
 */
export interface TestRedis {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** How a test client reaches this server (TLS and password included). */
  clientOptions(): RedisOptions;
  /** Graceful stop (SHUTDOWN NOSAVE). */
  stop(): Promise<void>;
  /** SIGKILL: the server vanishes mid-conversation. */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Start again on the same port (after stop or kill). */
  restart(): Promise<void>;
  flush(): Promise<void>;
  /** Stops the server for good and removes its files. */
  dispose(): Promise<void>;
  readonly running: boolean;
}

export const INSTALL_HINT =
  'no redis-server binary and no Docker engine: install Redis with `apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis`, or start a Docker engine';

export function hasRedisBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface RedisServerOptions {
  /** Extra redis-server arguments, e.g. ['--appendonly', 'yes']. */
  args?: string[];
  port?: number;
  /**
   * Serve TLS only (`--port 0 --tls-port`): nothing on this server can be reached in
   * clear. Replication and the cluster bus use TLS too.
   */
  tls?: { files: CertificateFiles; clientCertificates: 'no' | 'optional' | 'yes' };
  /** requirepass (and masterauth, so replicas of it can authenticate). */
  password?: string;
}

/** redis-server arguments that make it serve TLS only, with the test's certificates. */
export function tlsServerArgs(files: CertificateFiles, clientCertificates: 'no' | 'optional' | 'yes'): string[] {
  return [
    '--tls-cert-file',
    files.certFile,
    '--tls-key-file',
    files.keyFile,
    '--tls-ca-cert-file',
    files.caFile,
    '--tls-auth-clients',
    clientCertificates,
    '--tls-replication',
    'yes',
    '--tls-cluster',
    'yes',
  ];
}

/** Client options for a test client of a server started with `tls`/`password`. */
export function testClientOptions(port: number, options: Pick<RedisServerOptions, 'tls' | 'password'>): RedisOptions {
  const files = options.tls?.files;
  return {
    host: '127.0.0.1',
    port,
    password: options.password,
    tls: files ? { ca: files.pems.caPem, cert: files.pems.clientCertPem, key: files.pems.clientKeyPem } : undefined,
  };
}

class ProcessRedis implements TestRedis {
  readonly host = '127.0.0.1';
  private child: ChildProcess | undefined;
  private paused = false;
  private readonly dir: string;

  constructor(
    readonly port: number,
    private readonly extraArgs: string[],
    private readonly security: Pick<RedisServerOptions, 'tls' | 'password'> = {},
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-redis-'));
  }

  get url(): string {
    return `${this.security.tls ? 'rediss' : 'redis'}://${this.security.password ? `:${this.security.password}@` : ''}${this.host}:${this.port}`;
  }

  clientOptions(): RedisOptions {
    return testClientOptions(this.port, this.security);
  }

  get running(): boolean {
    return Boolean(this.child && this.child.exitCode === null && this.child.signalCode === null);
  }

  async start(): Promise<void> {
    await this.startProcess();
    // After every start and restart: what a test keeps on its servers (the projects' ACL users, project-acl.ts).
    for (const hook of startHooks) await hook(this);
  }

  private async startProcess(): Promise<void> {
    const { tls, password } = this.security;
    const listen = tls ? ['--port', '0', '--tls-port', String(this.port), ...tlsServerArgs(tls.files, tls.clientCertificates)] : ['--port', String(this.port)];
    const auth = password ? ['--requirepass', password, '--masterauth', password] : [];
    const args = [...listen, ...auth, '--bind', this.host, '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', ...this.extraArgs];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    track(child);
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`redis-server on port ${this.port} exited with ${code}: ${stderr.trim()}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPort(this.port, 10_000), exited]);
    // The port accepts before the dataset is loaded; PING until it answers. Any reply
    // but LOADING is an answer: a server whose password came in extraArgs answers NOAUTH.
    const client = new Redis({ ...this.clientOptions(), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    let last: unknown;
    try {
      for (let i = 0; i < 200; i++) {
        try {
          await client.connect().catch(() => undefined);
          if ((await client.ping()) === 'PONG') return;
        } catch (error) {
          last = error;
          if (error instanceof Error && error.name === 'ReplyError' && !error.message.startsWith('LOADING')) return;
          await sleep(50);
        }
      }
    } finally {
      client.disconnect();
    }
    throw new Error(`redis-server on port ${this.port} did not answer PING within 10 s: ${String(last)}`);
  }

  private async waitExit(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.resume();
    this.child?.kill('SIGTERM');
    await this.waitExit();
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    this.paused = false;
    await this.waitExit();
  }

  pause(): void {
    if (this.running && !this.paused) {
      this.child?.kill('SIGSTOP');
      this.paused = true;
    }
  }

  resume(): void {
    if (this.running && this.paused) {
      this.child?.kill('SIGCONT');
      this.paused = false;
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async flush(): Promise<void> {
    const client = new Redis({ ...this.clientOptions(), maxRetriesPerRequest: 1 });
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Docker-backed fallback: same interface, through testcontainers. */
async function startContainerRedis(): Promise<TestRedis> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7').start();
  const port = container.getMappedPort(6379);
  const host = container.getHost();
  let running = true;
  const exec = async (cmd: string[]) => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('docker', cmd, { stdio: 'ignore' });
  };
  const self: TestRedis = {
    host,
    port,
    url: `redis://${host}:${port}`,
    clientOptions: () => ({ host, port }),
    get running() {
      return running;
    },
    stop: async () => {
      await exec(['stop', container.getId()]);
      running = false;
    },
    kill: async () => {
      await exec(['kill', container.getId()]);
      running = false;
    },
    pause: () => void exec(['pause', container.getId()]),
    resume: () => void exec(['unpause', container.getId()]),
    restart: async () => {
      await exec(['start', container.getId()]);
      running = true;
      await waitForPort(port, 10_000, host);
    },
    flush: async () => {
      const client = new Redis({ port, host });
      await client.flushall();
      client.disconnect();
    },
    dispose: async () => {
      await container.stop();
      running = false;
    },
  };
  return self;
}

async function dockerReachable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

const started: TestRedis[] = [];
const startHooks = new Set<(server: TestRedis) => Promise<void>>();

const disposeChecks = new Set<(servers: readonly TestRedis[]) => Promise<void>>();

/** Runs check on the servers before disposeAllRedis stops them; a check that throws fails the suite's afterAll. */
export function beforeDisposeAll(check: (servers: readonly TestRedis[]) => Promise<void>): void {
  disposeChecks.add(check);
}

/** Runs hook on every server this worker starts or restarts from now on (redis-server processes only, not Sentinels). */
export function onRedisStart(hook: (server: TestRedis) => Promise<void>): void {
  startHooks.add(hook);
}

/** The servers started by this worker and not yet disposed. */
export function startedRedis(): readonly TestRedis[] {
  return started;
}

export async function startRedis(options: RedisServerOptions = {}): Promise<TestRedis> {
  let server: TestRedis;
  if (hasRedisBinary()) {
    const proc = new ProcessRedis(options.port ?? (await freePort()), options.args ?? [], options);
    await proc.start();
    server = proc;
  } else if (!options.tls && !options.password && (await dockerReachable())) {
    server = await startContainerRedis();
  } else {
    throw new Error(INSTALL_HINT);
  }
  started.push(server);
  return server;
}

export async function disposeAllRedis(): Promise<void> {
  // The checks run while the servers still answer; the servers are stopped whatever they find.
  const found = await Promise.allSettled([...disposeChecks].map((check) => check(started)));
  await Promise.all(started.splice(0).map((s) => s.dispose().catch(() => undefined)));
  const failed = found.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

let counter = 0;
/** A key prefix no other test uses. */
export function testPrefix(label = 't'): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}
