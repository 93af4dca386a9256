import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startAuthServer, type AuthServerOptions, type RunningAuthServer } from '../daemon/authserver/auth-server';
import { loadConfig, type Config } from '../shared/config/load';
import { packageRoot } from '../shared/package-root';
import { createLogger } from '../shared/logger';
import { FakeClock } from './fake-clock';
import { START_BOUND_MS } from './noise-budget';
import { waitFor } from './wait';
import { track } from './process-registry';
import { testPrefix } from './redis-server';

/**
 * Helpers to run the reference authorization server in tests: in-process (with a
 * FakeClock and a capturing log destination) or as a real `fdl-cloudauth
 * authserver` child process started from dist/ (tests run after `npm run build`).
 * Other suites (agent, aggregator, demo) use these too.
 */

export const TEST_ADMIN_TOKEN = 'test-admin-token-7f3a9c2e51';

// packageRoot(), not __dirname/../..: the helpers also run compiled (bench/, dist-bench/).
const REPO_ROOT = packageRoot();
export const CLI_ENTRY = path.join(REPO_ROOT, 'dist', 'daemon', 'cli', 'main.js');

export interface InProcessOptions {
  redisUrl: string;
  keyPrefix?: string;
  clock?: FakeClock;
  token?: string;
  /** Extra CLOUDAUTH_* environment (e.g. TLS files). */
  env?: Record<string, string>;
  random?: () => number;
  logLevel?: string;
  /** Socket limits and wrong-password limits, when a test needs its own. */
  limits?: AuthServerOptions['limits'];
  passwordFailures?: AuthServerOptions['passwordFailures'];
  adminTokenFailures?: AuthServerOptions['adminTokenFailures'];
}

export interface InProcessAuthServer extends RunningAuthServer {
  readonly clock: FakeClock;
  readonly token: string;
  readonly keyPrefix: string;
  readonly config: Config;
  /** Every log line the server wrote, as text. */
  readonly logLines: string[];
}

/**
 * The reference servers the tests start hash account passwords at N = 2^14, not the
 * product's 2^17: the suite makes hundreds of accounts and tries many wrong passwords,
 * each 0.4 s of CPU at 2^17, which starved the suite pinned to one core. The tests of
 * the default itself (test/authserver/password-hash.test.ts, capacity.test.ts) set 17.
 */
export const TEST_PASSWORD_HASH_COST = 14;

const running = new Set<RunningAuthServer>();

export async function startInProcessAuthServer(options: InProcessOptions): Promise<InProcessAuthServer> {
  const clock = options.clock ?? new FakeClock(Date.UTC(2026, 0, 1));
  const token = options.token ?? TEST_ADMIN_TOKEN;
  const keyPrefix = options.keyPrefix ?? testPrefix('as');
  const config = loadConfig({
    env: {
      CLOUDAUTH_REDIS_URL: options.redisUrl,
      CLOUDAUTH_REDIS_KEY_PREFIX: keyPrefix,
      CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: token,
      CLOUDAUTH_AUTHSERVER_PORT: '0',
      CLOUDAUTH_AUTHSERVER_HOST: '127.0.0.1',
      CLOUDAUTH_AUTHSERVER_PASSWORD_HASH_COST: String(TEST_PASSWORD_HASH_COST),
      ...options.env,
    },
    require: ['authserver'],
  });
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = createLogger({ level: options.logLevel ?? 'debug', destination });
  const server = await startAuthServer({
    config,
    clock,
    logger,
    random: options.random,
    limits: options.limits,
    passwordFailures: options.passwordFailures,
    adminTokenFailures: options.adminTokenFailures,
  });
  running.add(server);
  return {
    ...server,
    clock,
    token,
    keyPrefix,
    config,
    logLines,
    close: async () => {
      running.delete(server);
      await server.close();
    },
  };
}

/** For afterAll: closes every in-process server a test left running. */
export async function closeAllAuthServers(): Promise<void> {
  await Promise.all([...running].map((s) => s.close().catch(() => undefined)));
  running.clear();
  await Promise.all([...children].map((s) => s.close().catch(() => undefined)));
  children.clear();
}

export interface ChildAuthServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Every log line the server wrote so far, as text (stdout and stderr). */
  readonly logLines: string[];
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGTERM and wait: the same as stop(), for code written against the in-process server. */
  close(): Promise<void>;
}

const children = new Set<ChildAuthServer>();

/** The environment for a child process: ours without any CLOUDAUTH_* leaking in. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CLOUDAUTH_')) env[key] = value;
  }
  return { ...env, ...extra };
}

export function assertBuilt(): void {
  if (!existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} is missing: run \`npm run build\` before these tests (npm test does)`);
}

export interface ChildAuthServerOptions {
  redisUrl: string;
  keyPrefix?: string;
  token?: string;
  /** Extra CLOUDAUTH_* environment (e.g. TLS files). The log level stays at least `info`: the URL is read from the log. */
  env?: Record<string, string>;
}

/**
 * Runs `node dist/daemon/cli/main.js authserver --port 0` and reads the URL from its log.
 * This is how suites that run sidecars get their server (test/README.md, "The noise
 * budget"): in its own process, as a user runs it, a busy jest worker cannot stall the
 * server's answers into the sidecars' request timeout.
 */
export async function spawnAuthServer(options: ChildAuthServerOptions): Promise<ChildAuthServer> {
  assertBuilt();
  const token = options.token ?? TEST_ADMIN_TOKEN;
  const child = spawn(process.execPath, [CLI_ENTRY, 'authserver', '--port', '0', '--host', '127.0.0.1'], {
    env: cleanEnv({
      CLOUDAUTH_REDIS_URL: options.redisUrl,
      CLOUDAUTH_REDIS_KEY_PREFIX: options.keyPrefix ?? testPrefix('asc'),
      CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: token,
      CLOUDAUTH_AUTHSERVER_PASSWORD_HASH_COST: String(TEST_PASSWORD_HASH_COST),
      ...options.env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  let url: string;
  try {
    url = (await waitFor(
      'the authserver child process to log its URL',
      () => {
        if (child.exitCode !== null) throw new Error(`authserver exited with ${child.exitCode}: ${err}${out}`);
        for (const line of out.split('\n')) {
          if (!line.includes('authorization server listening')) continue;
          return (JSON.parse(line) as { url: string }).url;
        }
        return undefined;
      },
      START_BOUND_MS,
    )) as string;
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  const server: ChildAuthServer = {
    url,
    port: Number(new URL(url).port),
    token,
    child,
    stdout: () => out,
    stderr: () => err,
    get logLines() {
      return `${out}\n${err}`.split('\n').filter(Boolean);
    },
    stop,
    close: async () => {
      children.delete(server);
      await stop();
    },
  };
  children.add(server);
  return server;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The parsed body, or undefined when it is not JSON; `data` is loosely typed for assertions. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: { code: number; name: string; message: string; data?: any } | undefined;
}

export interface RequestOptions {
  method?: string;
  /** An object is sent as JSON; a string or Buffer as is. */
  body?: unknown;
  headers?: Record<string, string>;
  token?: string;
  contentType?: string | null;
  /** CA for HTTPS. */
  ca?: string | Buffer;
  timeoutMs?: number;
  /** The source address (a loopback address of its own, as a kubelet's probe has). */
  localAddress?: string;
}

/** One HTTP(S) request, new connection each time; rejects only on transport errors. */
export function request(baseUrl: string, pathname: string, options: RequestOptions = {}): Promise<HttpAnswer> {
  const url = new URL(pathname, baseUrl);
  const payload =
    options.body === undefined
      ? undefined
      : Buffer.isBuffer(options.body)
        ? options.body
        : Buffer.from(typeof options.body === 'string' ? options.body : JSON.stringify(options.body));
  const headers: Record<string, string> = { ...options.headers };
  if (payload) headers['content-length'] = String(payload.length);
  const contentType = options.contentType === undefined ? (payload ? 'application/json' : null) : options.contentType;
  if (contentType) headers['content-type'] = contentType;
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: options.method ?? (payload ? 'POST' : 'GET'),
        headers,
        agent: false,
        ca: options.ca,
        timeout: options.timeoutMs ?? 20_000,
        localAddress: options.localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: HttpAnswer['json'];
          try {
            json = JSON.parse(text) as HttpAnswer['json'];
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url.href} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface AccountBody {
  account: string;
  password: string;
  capacity?: number;
  expiresAt?: string;
  status?: 'active' | 'disabled';
  allowedIps?: string[];
  allowedDomains?: string[];
  allowedAppNames?: string[];
  allowedVersions?: string;
}

/** Creates (or replaces) an account; throws with the server's message unless it answered code 0. */
export async function createAccount(url: string, token: string, body: AccountBody, ca?: string | Buffer): Promise<HttpAnswer> {
  const answer = await request(url, '/admin/accounts', { body: { expiresAt: '2099-01-01T00:00:00Z', ...body }, token, ca });
  if (answer.json?.code !== 0) throw new Error(`creating account ${body.account} failed: ${answer.status} ${answer.text}`);
  return answer;
}

export interface NodeRequest {
  account: string;
  password: string;
  project?: string;
  nodeId?: string;
  ip?: string;
  domain?: string;
  appName?: string;
  version?: string;
}

/** A protocol v1 authenticate body with sensible defaults. */
export function authBody(n: NodeRequest): Record<string, unknown> {
  return {
    account: n.account,
    password: n.password,
    project: n.project ?? 'proj',
    node: { id: n.nodeId ?? 'node-1', ip: n.ip ?? '10.0.0.1', domain: n.domain ?? 'fdl.example.com', appName: n.appName ?? 'webroot' },
    version: n.version ?? '4.1.5',
    requestId: `req-${Math.random().toString(36).slice(2)}`,
    sentAt: new Date().toISOString(),
  };
}

export function authenticate(url: string, n: NodeRequest, ca?: string | Buffer): Promise<HttpAnswer> {
  return request(url, '/v1/authenticate', { body: authBody(n), ca });
}

export function unbind(url: string, n: { account: string; password: string; project?: string; nodeId: string }): Promise<HttpAnswer> {
  return request(url, '/v1/unbind', { body: { account: n.account, password: n.password, project: n.project ?? 'proj', nodeId: n.nodeId } });
}

export async function getAccount(url: string, token: string, account: string): Promise<HttpAnswer> {
  return request(url, `/admin/accounts/${encodeURIComponent(account)}`, { token });
}

/** Node ids bound to an account, sorted. */
export async function boundNodes(url: string, token: string, account: string): Promise<string[]> {
  const answer = await getAccount(url, token, account);
  if (answer.status !== 200) throw new Error(`GET account ${account}: ${answer.status} ${answer.text}`);
  return (answer.json?.data.bound as Array<{ nodeId: string }>).map((b) => b.nodeId).sort();
}
