import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { cipherFor } from '../shared/crypto/ciphers';
import { KEY_FILE_NAMES } from '../shared/crypto/key-files';
import { registerCredential } from '../daemon/credentials/register-credential';
import { ProjectKeys } from '../shared/redis/keys';
import { parseNodeRecord, type NodeRecord } from '../shared/redis/records';
import { assertBuilt, cleanEnv, CLI_ENTRY, request } from './authserver';
import { freePort } from './ports';
import { waitFor } from './wait';
import { AUTH_TIMEOUT_MS, HEALTHY_INTERVAL_MS, START_BOUND_MS } from './noise-budget';
import { track } from './process-registry';
import { sidecarRedisUrl } from './sidecar-redis-user';

/**
 * Real sidecar processes for tests (`node dist/daemon/cli/main.js daemon`), each with
 * its own journal directory and HTTP port, plus the fixtures they need: a key
 * directory and a registered project.
 */

let sharedKeyDir: string | undefined;

/** How long stop() waits for a signalled sidecar to exit before it kills it and fails. */
const STOP_BOUND_MS = 30_000;

/** A key directory with both pairs (generated once per test file: RSA generation is slow). */
export function testKeyDir(): string {
  if (sharedKeyDir) return sharedKeyDir;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-keys-'));
  for (const algorithm of ['rsa', 'sm2'] as const) {
    const pair = cipherFor(algorithm).generateKeyPair();
    writeFileSync(path.join(dir, KEY_FILE_NAMES[algorithm].private), pair.privateKey, { mode: 0o600 });
    writeFileSync(path.join(dir, KEY_FILE_NAMES[algorithm].public), pair.publicKey, { mode: 0o644 });
  }
  sharedKeyDir = dir;
  return dir;
}

export interface ProjectFixture {
  project: string;
  keyPrefix: string;
  redisUrl: string;
  keys: ProjectKeys;
  keyDir: string;
  authUrl: string;
  account: string;
  password: string;
}

export async function registerProject(f: Omit<ProjectFixture, 'keys'>): Promise<ProjectFixture> {
  const keys = new ProjectKeys(f.keyPrefix, f.project);
  const redis = new Redis(f.redisUrl);
  try {
    await registerCredential(redis, keys, { account: f.account, password: f.password, keyDir: f.keyDir, defaultAlgorithm: 'rsa' });
  } finally {
    redis.disconnect();
  }
  return { ...f, keys };
}

export interface Sidecar {
  readonly nodeId: string;
  readonly port: number;
  readonly journalDir: string;
  readonly child: ChildProcess;
  output(): string;
  /** Signal and wait for exit; resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
  get(pathname: string): Promise<{ status: number; text: string }>;
  readonly running: boolean;
}

export interface SidecarOptions {
  nodeId: string;
  /** The heartbeat interval; the noise budget's HEALTHY_INTERVAL_MS when omitted. */
  interval?: string;
  journalDir?: string;
  port?: number;
  env?: Record<string, string>;
  /** The node binary to run it with (another Node line, for the footprint benchmark); this process's own when omitted. */
  node?: string;
  /** When the sidecar serves HTTPS with basic auth (CLOUDAUTH_WEB_CONFIG_FILE): how get() reaches it. */
  web?: { ca: string; user: string; password: string };
  /**
   * The Redis user: the project's least-privilege ACL user (harness/project-acl.ts), as
   * deploy/redis/ ships it, unless 'as-given' keeps the user and password of the URL.
   */
  redisUser?: 'project' | 'as-given';
}

export async function startSidecar(f: ProjectFixture, o: SidecarOptions): Promise<Sidecar> {
  assertBuilt();
  const port = o.port ?? (await freePort());
  const journalDir = o.journalDir ?? mkdtempSync(path.join(os.tmpdir(), `fdl-journal-${o.nodeId}-`));
  const redisUrl = await sidecarRedisUrl(f, o);
  const child = spawn(o.node ?? process.execPath, [CLI_ENTRY, 'daemon'], {
    env: cleanEnv({
      CLOUDAUTH_PROJECT: f.project,
      CLOUDAUTH_NODE_ID: o.nodeId,
      CLOUDAUTH_NODE_IP: '127.0.0.1',
      CLOUDAUTH_NODE_DOMAIN: 'fdl.example.com',
      CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
      CLOUDAUTH_AUTH_SERVER_URL: f.authUrl,
      CLOUDAUTH_AUTH_TIMEOUT: `${AUTH_TIMEOUT_MS}ms`,
      CLOUDAUTH_REDIS_KEY_PREFIX: f.keyPrefix,
      CLOUDAUTH_KEY_DIR: f.keyDir,
      CLOUDAUTH_JOURNAL_DIR: journalDir,
      CLOUDAUTH_HEARTBEAT_INTERVAL: o.interval ?? `${HEALTHY_INTERVAL_MS}ms`,
      CLOUDAUTH_HTTP_HOST: '127.0.0.1',
      CLOUDAUTH_HTTP_PORT: String(port),
      CLOUDAUTH_LOG_LEVEL: 'debug',
      ...o.env,
      CLOUDAUTH_REDIS_URL: redisUrl,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let paused = false;
  const web = o.web;
  const get = async (pathname: string) => {
    if (web) {
      const authorization = `Basic ${Buffer.from(`${web.user}:${web.password}`).toString('base64')}`;
      const answer = await request(`https://127.0.0.1:${port}`, pathname, { ca: web.ca, headers: { authorization }, timeoutMs: 5000 });
      return { status: answer.status, text: answer.text };
    }
    const res = await fetch(`http://127.0.0.1:${port}${pathname}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, text: await res.text() };
  };
  const sidecar: Sidecar = {
    nodeId: o.nodeId,
    port,
    journalDir,
    child,
    output: () => out,
    get,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    stop: async (signal = 'SIGTERM') => {
      if (paused) child.kill('SIGCONT');
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      // Bounded: a sidecar that does not stop is killed and named, not a test that hangs until jest's timeout.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), STOP_BOUND_MS)));
      const result = await Promise.race([exited, stuck]);
      clearTimeout(timer);
      if (result !== 'stuck') return result;
      child.kill('SIGKILL');
      await exited;
      throw new Error(`sidecar ${o.nodeId} did not exit within ${STOP_BOUND_MS} ms of ${signal}; its last output:\n${out.split('\n').slice(-30).join('\n')}`);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    pause: () => {
      child.kill('SIGSTOP');
      paused = true;
    },
    resume: () => {
      child.kill('SIGCONT');
      paused = false;
    },
  };
  await waitFor(
    `sidecar ${o.nodeId} to serve /healthz`,
    async () => {
      if (!sidecar.running) throw new Error(`sidecar ${o.nodeId} exited: ${out}`);
      return (await get('/healthz')).status === 200;
    },
    START_BOUND_MS,
    100,
  );
  return sidecar;
}

/**
 * Starts several sidecars at once (each waits for its own /healthz): a suite's
 * cluster is up in the time of its slowest sidecar, not the sum. If one does not
 * start, the others are killed and the first error is thrown.
 */
export async function startSidecars(f: ProjectFixture, list: readonly SidecarOptions[]): Promise<Sidecar[]> {
  const settled = await Promise.allSettled(list.map((o) => startSidecar(f, o)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const started = settled.filter((r): r is PromiseFulfilledResult<Sidecar> => r.status === 'fulfilled').map((r) => r.value);
  if (failed) {
    await Promise.all(started.map((s) => s.kill()));
    throw failed.reason;
  }
  return started;
}

export async function readNode(redis: Redis, keys: ProjectKeys, nodeId: string): Promise<NodeRecord | null> {
  return parseNodeRecord(nodeId, await redis.hgetall(keys.node(nodeId)));
}

/**
 * Recorded attempt ids of a node, oldest first, one per attempt: a slot is recorded
 * under both its names while two releases may run (record-attempt-7.lua), and the
 * earlier release's name is left out here.
 */
export async function recordedAttempts(redis: Redis, keys: ProjectKeys, nodeId: string): Promise<string[]> {
  return onePerAttempt(await redis.zrange(keys.attempts(nodeId), '0', '-1'));
}

/** Recorded attempt ids without the earlier release's name of a slot also recorded as `slot:<ms>`. */
export function onePerAttempt(ids: readonly string[]): string[] {
  const slots = new Set(ids.filter((id) => id.startsWith('slot:')));
  return ids.filter((id) => !(id.startsWith('repeat:heartbeat:') && slots.has(`slot:${id.slice('repeat:heartbeat:'.length)}`)));
}
