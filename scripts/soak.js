#!/usr/bin/env node
// Soak run (issue 6 item 7; not a CI test): a three-node cluster with a one-second
// heartbeat for --minutes (default 10), all real processes on loopback — two private
// redis-servers (the project's, the reference server's), the reference authorization
// server as a child process, three sidecars — sampling the resident memory (RSS, from
// /proc) of every sidecar and of the reference server at the start, every minute and
// at the end. It then checks the attempts: every attempt a sidecar logged is recorded
// in Redis once. Prints a Markdown report (and writes it to --report <file> if given).
//
//   npm run soak -- --minutes 10 [--interval 1s] [--report /tmp/soak.md]
//
// Runs from dist/ (npm run soak builds first). Linux only (reads /proc/<pid>/status).
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'daemon', 'cli', 'main.js');

function parseArgs(argv) {
  const args = { minutes: 10, interval: '1s', report: '' };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = argv[i + 1];
    if (key === '--minutes') args.minutes = Number(value);
    else if (key === '--interval') args.interval = value;
    else if (key === '--report') args.report = value;
    else {
      console.error(`soak: unknown argument ${key} (known: --minutes N, --interval 1s, --report FILE)`);
      process.exit(2);
    }
    i += 1;
  }
  if (!(args.minutes > 0)) {
    console.error('soak: --minutes must be a positive number');
    process.exit(2);
  }
  return args;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`soak: timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Resident set size of a process in MiB, from /proc. */
function rssMiB(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return NaN;
  }
}

const children = [];
function start(label, command, args, options) {
  const child = spawn(command, args, options);
  children.push({ label, child });
  return child;
}

function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CLOUDAUTH_')) env[k] = v;
  return { ...env, ...extra };
}

async function startRedis(dir, name) {
  const port = await freePort();
  const data = path.join(dir, name);
  fs.mkdirSync(data);
  start(name, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', data], { stdio: 'ignore' });
  const Redis = require(path.join(ROOT, 'node_modules', 'ioredis')).default;
  await waitFor(`${name} to answer`, async () => {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } finally {
      client.disconnect();
    }
  });
  return { port, url: `redis://127.0.0.1:${port}` };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm run soak does)`);
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('soak needs redis-server on the PATH');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdl-soak-'));
  const Redis = require(path.join(ROOT, 'node_modules', 'ioredis')).default;
  const { cipherFor } = require(path.join(ROOT, 'dist/shared/crypto/ciphers.js'));
  const { KEY_FILE_NAMES } = require(path.join(ROOT, 'dist/shared/crypto/key-files.js'));
  const { registerCredential } = require(path.join(ROOT, 'dist/daemon/credentials/register-credential.js'));
  const { ProjectKeys } = require(path.join(ROOT, 'dist/shared/redis/keys.js'));

  const cleanup = async () => {
    for (const { child } of [...children].reverse()) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    await sleep(3000);
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    const projectRedis = await startRedis(dir, 'redis-project');
    const authRedis = await startRedis(dir, 'redis-authserver');
    const token = randomBytes(16).toString('hex');
    const password = randomBytes(12).toString('hex');

    // The reference server as a process of its own, so its RSS is its own.
    let authOut = '';
    const authPort = await freePort();
    const authUrl = `http://127.0.0.1:${authPort}`;
    const authChild = start('authserver', process.execPath, [CLI, 'authserver', '--port', String(authPort), '--host', '127.0.0.1'], {
      env: childEnv({
        CLOUDAUTH_REDIS_URL: authRedis.url,
        CLOUDAUTH_REDIS_KEY_PREFIX: 'soak-as',
        CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: token,
        CLOUDAUTH_LOG_LEVEL: 'warn',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    authChild.stdout.on('data', (d) => {
      if (authOut.length < 100_000) authOut += d.toString();
    });
    authChild.stderr.on('data', (d) => {
      if (authOut.length < 100_000) authOut += d.toString();
    });
    await waitFor('the authorization server to answer', async () => {
      if (authChild.exitCode !== null) throw new Error(`the authorization server exited: ${authOut}`);
      return (await fetch(`${authUrl}/healthz`)).status === 200;
    });
    const admin = await fetch(`${authUrl}/admin/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ account: 'soak', password, capacity: 5, expiresAt: '2099-01-01T00:00:00Z', allowedIps: ['10.9.0.0/24'] }),
    });
    if (admin.status !== 200) throw new Error(`creating the soak account failed: ${admin.status} ${await admin.text()}`);

    const keyDir = path.join(dir, 'keys');
    fs.mkdirSync(keyDir, { mode: 0o700 });
    const pair = cipherFor('rsa').generateKeyPair();
    fs.writeFileSync(path.join(keyDir, KEY_FILE_NAMES.rsa.private), pair.privateKey, { mode: 0o600 });
    fs.writeFileSync(path.join(keyDir, KEY_FILE_NAMES.rsa.public), pair.publicKey, { mode: 0o644 });
    const keyPrefix = 'soak';
    const keys = new ProjectKeys(keyPrefix, 'soak');
    const redis = new Redis(projectRedis.url);
    await registerCredential(redis, keys, { account: 'soak', password, keyDir, defaultAlgorithm: 'rsa' });

    const nodes = ['soak-1', 'soak-2', 'soak-3'];
    const sidecars = [];
    for (const [i, id] of nodes.entries()) {
      const port = await freePort();
      const logFile = path.join(dir, `${id}.log`);
      const out = fs.openSync(logFile, 'a');
      const child = start(id, process.execPath, [CLI, 'daemon'], {
        env: childEnv({
          CLOUDAUTH_PROJECT: 'soak',
          CLOUDAUTH_NODE_ID: id,
          CLOUDAUTH_NODE_IP: `10.9.0.${i + 1}`,
          CLOUDAUTH_NODE_DOMAIN: 'fdl.example.com',
          CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
          CLOUDAUTH_AUTH_SERVER_URL: authUrl,
          CLOUDAUTH_REDIS_URL: projectRedis.url,
          CLOUDAUTH_REDIS_KEY_PREFIX: keyPrefix,
          CLOUDAUTH_KEY_DIR: keyDir,
          CLOUDAUTH_JOURNAL_DIR: path.join(dir, `journal-${id}`),
          CLOUDAUTH_HEARTBEAT_INTERVAL: args.interval,
          CLOUDAUTH_HTTP_HOST: '127.0.0.1',
          CLOUDAUTH_HTTP_PORT: String(port),
          CLOUDAUTH_LOG_LEVEL: 'info',
        }),
        stdio: ['ignore', out, out],
      });
      sidecars.push({ id, port, child, logFile });
    }
    for (const s of sidecars) await waitFor(`${s.id} to be ready`, async () => (await fetch(`http://127.0.0.1:${s.port}/readyz`)).status === 200, 30_000);
    await waitFor('the project to be registered', async () => (await redis.hget(keys.status, 'status')) === 'registered', 30_000);

    const processes = [...sidecars.map((s) => ({ label: s.id, pid: s.child.pid })), { label: 'authserver', pid: authChild.pid }];
    const samples = [];
    const sample = (minute) => {
      const row = { minute };
      for (const p of processes) row[p.label] = rssMiB(p.pid);
      samples.push(row);
      console.log(`soak: minute ${minute}: ${processes.map((p) => `${p.label}=${row[p.label]} MiB`).join(' ')}`);
    };
    const startedAt = Date.now();
    sample(0);
    for (let minute = 1; minute <= args.minutes; minute++) {
      await sleep(startedAt + minute * 60_000 - Date.now());
      for (const s of sidecars) if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`sidecar ${s.id} exited during the soak`);
      if (authChild.exitCode !== null) throw new Error('the authorization server exited during the soak');
      sample(minute);
    }
    const elapsedMin = (Date.now() - startedAt) / 60_000;

    // Figures: stop the sidecars first (graceful, Redis up), then compare logs with Redis.
    for (const s of sidecars) s.child.kill('SIGTERM');
    await Promise.all(sidecars.map((s) => new Promise((r) => (s.child.exitCode !== null ? r() : s.child.once('exit', r)))));
    const figures = [];
    for (const s of sidecars) {
      const made = new Map();
      for (const line of fs.readFileSync(s.logFile, 'utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        if ((entry.msg === 'Authenticated' || entry.msg === 'Authentication failed') && entry.attemptId)
          made.set(entry.attemptId, (made.get(entry.attemptId) ?? 0) + 1);
      }
      const recorded = await redis.zrange(keys.attempts(s.id), '0', '-1');
      const record = await redis.hgetall(keys.node(s.id));
      const recordedSet = new Set(recorded);
      figures.push({
        node: s.id,
        made: made.size,
        recorded: recorded.length,
        lost: [...made.keys()].filter((id) => !recordedSet.has(id)).length,
        duplicated: Number(record.attemptsTotal ?? 0) - recorded.length,
        failures: Number(record.failuresTotal ?? 0),
      });
    }
    const status = await redis.hget(keys.status, 'status');
    redis.disconnect();

    const labels = processes.map((p) => p.label);
    const first = samples[0];
    const warm = samples[1] ?? first;
    const last = samples[samples.length - 1];
    const lines = [];
    lines.push(
      `Soak run of ${new Date(startedAt).toISOString()}: ${nodes.length} sidecars, heartbeat interval ${args.interval}, ${elapsedMin.toFixed(1)} minutes, Node ${process.version}, ${os.cpus().length} CPUs.`,
    );
    lines.push('');
    lines.push(`| minute | ${labels.join(' | ')} |`);
    lines.push(`|---|${labels.map(() => '---').join('|')}|`);
    for (const row of samples) lines.push(`| ${row.minute} | ${labels.map((l) => `${row[l]} MiB`).join(' | ')} |`);
    lines.push('');
    lines.push(`| process | RSS start | RSS after 1 min | RSS end | end − 1 min |`);
    lines.push('|---|---|---|---|---|');
    for (const l of labels)
      lines.push(`| ${l} | ${first[l]} MiB | ${warm[l]} MiB | ${last[l]} MiB | ${(Math.round((last[l] - warm[l]) * 10) / 10).toFixed(1)} MiB |`);
    lines.push('');
    lines.push('| node | attempts made | recorded | lost | duplicated | failures |');
    lines.push('|---|---|---|---|---|---|');
    for (const f of figures) lines.push(`| ${f.node} | ${f.made} | ${f.recorded} | ${f.lost} | ${f.duplicated} | ${f.failures} |`);
    lines.push('');
    lines.push(`Project status at the end: ${status}.`);
    const report = lines.join('\n');
    console.log(`\n${report}`);
    if (args.report) fs.writeFileSync(args.report, `${report}\n`);
    const bad = figures.some((f) => f.lost > 0 || f.duplicated > 0) || status !== 'registered';
    await cleanup();
    process.exit(bad ? 1 : 0);
  } catch (error) {
    console.error(`soak: ${error.message}`);
    await cleanup();
    process.exit(1);
  }
}

void main();
