import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Redis as StandaloneRedis } from 'ioredis';
import type { Logger } from 'pino';
import { ALGORITHMS } from '../../shared/crypto/cipher';
import { cipherFor } from '../../shared/crypto/ciphers';
import { ensureKeyDir, keyFilePath, PRIVATE_KEY_MODE, PUBLIC_KEY_MODE, writeFileAtomic } from '../../shared/crypto/key-files';
import type { Config } from '../../shared/config/compile';
import { formatDuration } from '../../shared/duration';
import { closeRedis, connectOrExplain, createRedis, describeRedis, type RedisClient } from '../../shared/redis/connection';
import { createProjectUser, urlWithUser } from '../../shared/redis/create-project-user';
import { ProjectKeys } from '../../shared/redis/keys';
import { startAuthServer, type RunningAuthServer } from '../authserver/auth-server';
import { registerCredential, type RegisterResult } from '../credentials/register-credential';
import type { ProjectView } from '../view/compute-view';
import { ProjectViewReader } from '../view/project-view';
import { DemoError } from './demo-error';
import { freePort } from './free-port';
import { PrivateRedis } from './private-redis';
import { cliEntry, SidecarProcess } from './sidecar-process';

/**
 * Everything the demo runs: Redis (a private redis-server, or the configured one under
 * a key prefix of its own), the reference authorization server in this process with
 * a demo account, a key directory, the registered demo project, and three sidecar
 * processes. `close()` stops them in the reverse order — sidecars while Redis still
 * answers, so they release the lease and flush their journal — and is idempotent.
 *
 * The demo password and the admin token are random, live in this process and in the
 * children's memory only, and are never printed.
 */
export const DEMO_PROJECT = 'demo';
export const DEMO_ACCOUNT = 'demo-account';
export const DEMO_CAPACITY = 5;
export const DEMO_VERSION = '4.1.5';
export const ALLOWED_RANGE = '10.0.0.0/24';

export interface DemoTiming {
  intervalMs: number;
  failureThreshold: number;
  leaseMs: number;
  renewMs: number;
}

export interface DemoNode {
  readonly id: string;
  readonly ip: string;
}

export const DEMO_NODES: readonly DemoNode[] = Object.freeze([
  { id: 'node-1', ip: '10.0.0.11' },
  { id: 'node-2', ip: '10.0.0.12' },
  { id: 'node-3', ip: '10.0.0.13' },
]);

export interface DemoClusterOptions {
  /** The directory for everything the demo writes; the caller removes it. */
  dir: string;
  /** Start a private redis-server (no Redis configured), else use the configured one. */
  privateRedis: boolean;
  /** Loads the configuration with the demo's overrides on top of the user's. */
  loadConfig(overrides: Record<string, unknown>): Config;
  timing: DemoTiming;
  /** The admin token to use (the configured one, else random). */
  adminToken: string | undefined;
  /** The demo account's password (random unless given). */
  password: string | undefined;
  logger: Logger;
  /** Progress lines while starting. */
  say(line: string): void;
}

export interface AccountSettings {
  allowedIps: string[];
}

export class DemoCluster {
  private redisServer: PrivateRedis | undefined;
  /** The project user's URL on the private Redis (the configured URL otherwise). */
  private sidecarRedisUrl: string | undefined;
  private config: Config | undefined;
  private redis: RedisClient | undefined;
  private authServer: RunningAuthServer | undefined;
  private reader: ProjectViewReader | undefined;
  private keys: ProjectKeys | undefined;
  readonly sidecars: SidecarProcess[] = [];
  private readonly adminToken: string;
  private readonly password: string;
  readonly keyPrefix = `fdl-demo-${randomBytes(4).toString('hex')}`;
  private readonly expiresAt = new Date(Date.now() + 365 * 86_400_000).toISOString();
  private closing: Promise<void> | undefined;

  constructor(private readonly o: DemoClusterOptions) {
    this.adminToken = o.adminToken || randomBytes(24).toString('base64url');
    this.password = o.password || randomBytes(18).toString('base64url');
  }

  get keyDir(): string {
    return path.join(this.o.dir, 'keys');
  }

  get redisPid(): number | undefined {
    return this.redisServer?.pid;
  }

  get authUrl(): string {
    if (!this.authServer) throw new Error('the demo cluster is not started');
    return this.authServer.url;
  }

  async start(): Promise<void> {
    const { say, timing } = this.o;
    let overrides: Record<string, unknown> = {
      'redis.keyPrefix': this.keyPrefix,
      'authserver.adminToken': this.adminToken,
      'authserver.host': '127.0.0.1',
      'authserver.port': 0,
      'authserver.tlsCert': '',
      'authserver.tlsKey': '',
      // The demo's account has a random password that lives as long as the demo: hashing
      // it at 2^17 on each of the story's account changes (0.4 s of CPU and 128 MiB each)
      // protects nothing, and on a loaded machine outlasted the admin call's 10 s.
      'authserver.passwordHashCost': 14,
    };
    if (this.o.privateRedis) {
      const server = new PrivateRedis(path.join(this.o.dir, 'redis'));
      this.redisServer = server;
      await server.start();
      overrides = { ...overrides, 'redis.url': server.url, 'redis.sentinels': '', 'redis.clusterNodes': '' };
      say(`  Redis                 private redis-server on ${server.address} (pid ${server.pid}), no persistence`);
    }
    const config = this.o.loadConfig(overrides);
    this.config = config;
    if (!this.o.privateRedis) say(`  Redis                 ${describeRedis(config.redis)} (configured), keys under ${this.keyPrefix}:`);

    this.redis = createRedis(config.redis, { purpose: 'command', connectionName: 'fdl-cloudauth-demo', lazyConnect: true });
    this.redis.on('error', (error: Error) => this.o.logger.debug({ err: error }, 'Redis connection error'));
    await connectOrExplain(this.redis, config.redis);

    this.authServer = await startAuthServer({ config, redis: this.redis, logger: this.o.logger });
    await this.saveAccount({ allowedIps: [ALLOWED_RANGE] });
    say(
      `  authorization server  ${this.authServer.url} (reference server, in this process); account ${DEMO_ACCOUNT}: ` +
        `capacity ${DEMO_CAPACITY}, allowed IPs ${ALLOWED_RANGE}, license until ${this.expiresAt.slice(0, 10)}`,
    );

    ensureKeyDir(this.keyDir);
    for (const algorithm of ALGORITHMS) {
      const pair = cipherFor(algorithm).generateKeyPair();
      writeFileAtomic(keyFilePath(this.keyDir, algorithm, 'private'), pair.privateKey, PRIVATE_KEY_MODE);
      writeFileAtomic(keyFilePath(this.keyDir, algorithm, 'public'), pair.publicKey, PUBLIC_KEY_MODE);
    }
    this.keys = new ProjectKeys(this.keyPrefix, DEMO_PROJECT);
    if (this.o.privateRedis) {
      // On its own Redis the demo runs the sidecars as deploy/redis/ advises: as the
      // project's least-privilege ACL user (its keys, its channel, the commands it needs).
      const password = randomBytes(18).toString('base64url');
      const user = await createProjectUser(this.redis, this.keyPrefix, DEMO_PROJECT, password);
      this.sidecarRedisUrl = urlWithUser(config.redis.url, user, password);
      say(`  Redis user            ${user}: keys and channel ${this.keys.base}:* only (deploy/redis/)`);
    }
    const registered = await this.register();
    say(
      `  project               ${DEMO_PROJECT}: registered with account ${DEMO_ACCOUNT} (password encrypted with ${registered.algorithm}, key id ${registered.keyId})`,
    );
    this.reader = new ProjectViewReader({
      redis: this.redis,
      keys: this.keys,
      log: this.o.logger,
      policy: { failurePolicy: 'any', threshold: timing.failureThreshold, intervalMs: timing.intervalMs },
    });

    const entry = cliEntry();
    const env = this.sidecarEnv(config);
    for (const node of DEMO_NODES) {
      const sidecar = new SidecarProcess({ nodeId: node.id, nodeIp: node.ip, httpPort: await freePort(), dir: path.join(this.o.dir, node.id), env });
      this.sidecars.push(sidecar);
      sidecar.start(entry);
    }
    await Promise.all(this.sidecars.map((s) => s.waitHealthy(30_000)));
    for (const s of this.sidecars) {
      say(`  ${s.nodeId.padEnd(22)}sidecar pid ${s.pid}, IP ${s.nodeIp}, metrics ${s.baseUrl}/metrics`);
    }
    const first = this.sidecars[0] as SidecarProcess;
    say(`  status JSON           ${first.baseUrl}/status (every sidecar answers it)`);
    say(`  Registration page     ${first.baseUrl}/ (open it in a browser; every sidecar serves it)`);
    say(
      `  heartbeat every ${formatDuration(timing.intervalMs)}, a node fails at ${timing.failureThreshold} consecutive failures, ` +
        `failure policy any, leader lease ${formatDuration(timing.leaseMs)}`,
    );
  }

  private sidecarEnv(config: Config): Record<string, string> {
    const { timing } = this.o;
    const hosts = (list: ReadonlyArray<{ host: string; port: number }>) =>
      list.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',');
    return {
      CLOUDAUTH_PROJECT: DEMO_PROJECT,
      CLOUDAUTH_NODE_DOMAIN: 'fdl-demo.example.com',
      CLOUDAUTH_PRODUCT_VERSION: DEMO_VERSION,
      CLOUDAUTH_AUTH_SERVER_URL: this.authUrl,
      // Longer than a stall of a busy machine (the demo runs everything on one host): a
      // healthy node of the story never fails for a server that answered a moment late.
      CLOUDAUTH_AUTH_TIMEOUT: '5s',
      CLOUDAUTH_REDIS_URL: this.sidecarRedisUrl ?? config.redis.url,
      CLOUDAUTH_REDIS_SENTINELS: hosts(config.redis.sentinels),
      CLOUDAUTH_REDIS_SENTINEL_NAME: config.redis.sentinelName,
      CLOUDAUTH_REDIS_CLUSTER_NODES: hosts(config.redis.clusterNodes),
      CLOUDAUTH_REDIS_KEY_PREFIX: this.keyPrefix,
      CLOUDAUTH_KEY_DIR: this.keyDir,
      CLOUDAUTH_CRYPTO_ALGORITHM: 'rsa',
      CLOUDAUTH_HEARTBEAT_INTERVAL: formatDuration(timing.intervalMs),
      CLOUDAUTH_FAILURE_THRESHOLD: String(timing.failureThreshold),
      CLOUDAUTH_FAILURE_POLICY: 'any',
      CLOUDAUTH_LEADER_LEASE: formatDuration(timing.leaseMs),
      CLOUDAUTH_LEADER_RENEW: formatDuration(timing.renewMs),
      CLOUDAUTH_LOG_LEVEL: 'info',
    };
  }

  /** Creates or replaces the demo account through the admin API, as an operator would. */
  async saveAccount(settings: AccountSettings): Promise<void> {
    const res = await fetch(`${this.authUrl}/admin/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.adminToken}` },
      body: JSON.stringify({
        account: DEMO_ACCOUNT,
        password: this.password,
        capacity: DEMO_CAPACITY,
        expiresAt: this.expiresAt,
        status: 'active',
        allowedIps: settings.allowedIps,
      }),
      signal: AbortSignal.timeout(10_000),
    });
    const answer = (await res.json().catch(() => undefined)) as { code?: number; message?: string } | undefined;
    if (answer?.code !== 0)
      throw new DemoError(`the authorization server refused the demo account (HTTP ${res.status}, code ${answer?.code}): ${answer?.message ?? ''}`);
  }

  /** What `fdl-cloudauth register --account demo-account --password-stdin` does. */
  async register(): Promise<RegisterResult> {
    if (!this.redis || !this.keys) throw new Error('the demo cluster is not started');
    return registerCredential(this.redis, this.keys, { account: DEMO_ACCOUNT, password: this.password, keyDir: this.keyDir, defaultAlgorithm: 'rsa' });
  }

  async readView(): Promise<ProjectView> {
    if (!this.reader) throw new Error('the demo cluster is not started');
    return this.reader.read();
  }

  /** The tail of every sidecar's log, for a failure message. */
  logTails(lines: number): string {
    return this.sidecars.map((s) => `${s.nodeId} (${s.logFile}):\n${s.logTail(lines)}`).join('\n');
  }

  /** Removes the demo's keys from a Redis that is not ours (best effort, standalone Redis only). */
  private async removeDemoKeys(): Promise<number> {
    const redis = this.redis;
    if (!redis || this.o.privateRedis || !this.config || this.config.redis.clusterNodes.length > 0 || redis.status !== 'ready') return 0;
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await (redis as StandaloneRedis).scan(cursor, 'MATCH', `${this.keyPrefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
    return removed;
  }

  /** Stops everything in the reverse order of start; idempotent, never throws. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const steps: Array<[string, () => Promise<unknown>]> = [
        ['sidecars', () => Promise.all(this.sidecars.map((s) => s.close()))],
        ['authorization server', async () => this.authServer?.close()],
        ['demo keys', () => this.removeDemoKeys()],
        ['redis connection', () => closeRedis(this.redis)],
        ['redis-server', async () => this.redisServer?.close()],
      ];
      for (const [part, step] of steps) {
        try {
          await step();
        } catch (error) {
          this.o.logger.warn({ err: error, part }, 'Demo part did not close cleanly');
        }
      }
    })();
    return this.closing;
  }

  /** Last resort when the process exits without close(): SIGKILL every child. */
  killNow(): void {
    for (const s of this.sidecars) s.killNow();
    this.redisServer?.killNow();
  }
}
