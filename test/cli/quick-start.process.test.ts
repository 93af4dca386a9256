import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../shared/package-root';
import { assertBuilt, closeAllAuthServers, createAccount, spawnAuthServer, type ChildAuthServer } from '../../harness/authserver';
import { runProcess, type CliRun } from '../support/cli';
import { freePort } from '../../harness/ports';
import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';
import { track } from '../../harness/process-registry';
import { waitFor } from '../../harness/wait';

/**
 * The README's production quick-start, followed as written (issue 32): the shell blocks
 * between `<!-- quick-start:begin -->` and `<!-- quick-start:end -->` are read from the
 * README and run in order with bash, so the section and the product cannot drift.
 *
 * The release artefact is the `npm pack` tarball of this tree (the first block: `npm
 * test` has built dist/, so it is packed without its prepack build), installed with the
 * README's own `npm install -g` into a temporary prefix (npm_config_prefix; npm's cache,
 * which `npm ci` filled, serves the dependencies). Each later block runs as written
 * except for the substitutions below, each of which must still be in the README: the
 * machine's directories under a temporary root, the example Redis and authorization
 * server URLs by the test's own, the sidecar's port by a free one. A block marked
 * `<!-- quick-start:skip… -->` (systemd) is not run. The block that starts the sidecar
 * runs in the background; the last one (status, doctor) is run until the project is
 * registered.
 */
const README = readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
const VERSION = (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
const TARBALL = `fdl-cloudauth-${VERSION}.tgz`;
const ACCOUNT = 'acme';
const PASSWORD = 'quick-start-Pässwort-9';
/** Installing from the cache and packing take seconds; a slow, shared CI machine gets room (a fresh-clone run beside other work took over 120 s to install). */
const STEP_MS = 300_000;

interface Block {
  readonly text: string;
  readonly skip: boolean;
}

/** The shell blocks of the quick-start, in order, each marked when the README says to skip it. */
function quickStartBlocks(): Block[] {
  const begin = README.indexOf('<!-- quick-start:begin -->');
  const end = README.indexOf('<!-- quick-start:end -->');
  if (begin < 0 || end < begin) throw new Error('README.md has no <!-- quick-start:begin --> … <!-- quick-start:end --> section');
  const section = README.slice(begin, end);
  return [...section.matchAll(/(<!-- quick-start:skip[^>]*-->\s*\n)?```sh\n([\s\S]*?)```/g)].map((m) => ({ text: m[2] ?? '', skip: m[1] !== undefined }));
}

let redis: TestRedis;
let server: ChildAuthServer;
let work: string;
let daemon: ChildProcess | undefined;
let daemonLog = '';

beforeAll(async () => {
  assertBuilt();
  // Redis as the README asks for production (AOF on, noeviction), so doctor's checks pass.
  redis = await startRedis({ args: ['--appendonly', 'yes', '--maxmemory-policy', 'noeviction'] });
  server = await spawnAuthServer({ redisUrl: redis.url });
  await createAccount(server.url, server.token, { account: ACCOUNT, password: PASSWORD, capacity: 3 });
  work = mkdtempSync(path.join(os.tmpdir(), 'fdl-quick-start-'));
});

afterAll(async () => {
  if (daemon?.pid !== undefined && daemon.exitCode === null) {
    // The block's bash and the sidecar it started: their own process group.
    const exited = new Promise((resolve) => daemon?.once('exit', resolve));
    process.kill(-daemon.pid, 'SIGTERM');
    await exited;
  }
  await closeAllAuthServers();
  await disposeAllRedis();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('the README quick-start, from the tarball to a registered project', async () => {
  const blocks = quickStartBlocks();
  const [build, ...rest] = blocks;
  expect(build?.text).toContain('npm pack');
  expect(build?.text).toContain(TARBALL);

  const root = path.join(work, 'root');
  const cwd = path.join(work, 'node');
  // The directories every machine has.
  for (const dir of ['etc', 'opt', 'var/lib']) mkdirSync(path.join(root, dir), { recursive: true });
  mkdirSync(cwd);
  const port = await freePort();
  // Each pair: what the README says, what the test runs instead. Each must be in the README.
  const substitutions: Array<[RegExp, string]> = [
    [/(?<![\w./-])\/(etc|opt|var\/lib)\//g, `${root}/$1/`],
    [/https:\/\/register\.example\.com/g, server.url],
    [/redis:\/\/:change-me@redis\.example\.internal:6379/g, redis.url],
    [/\b9464\b/g, String(port)],
  ];
  const all = rest.map((b) => b.text).join('\n');
  for (const [pattern] of substitutions) expect([pattern.source, pattern.test(all)]).toEqual([pattern.source, true]);
  const local = (text: string) => substitutions.reduce((t, [pattern, value]) => t.replace(pattern, value), text);

  const prefix = path.join(root, 'usr', 'local');
  // Only this environment (minimalEnv): jest run through npx inherits npm_config_prefix,
  // which would send `npm install -g` to the machine's own prefix. npm's cache and
  // configuration (registry, CA) are the machine's, so the install is served from the
  // cache `npm ci` filled and asks the registry for what that lacks (the packages'
  // metadata: `npm ci` fetches none). Their files are named as this machine's npm reads
  // them: a new prefix alone also moves npm's global configuration file, where a
  // machine may keep its CA (a fresh CI machine did: every fetch failed with
  // SELF_SIGNED_CERT_IN_CHAIN and the install hung in retries).
  const inherited = (name: string): Record<string, string> => {
    const value = process.env[name];
    return value ? { [name]: value } : {};
  };
  const npmConfig = (key: string): Record<string, string> => {
    const got = spawnSync('npm', ['config', 'get', key], { encoding: 'utf8' });
    const value = got.status === 0 ? got.stdout.trim() : '';
    return value && value !== 'null' && value !== 'undefined' ? { [`npm_config_${key}`]: value } : {};
  };
  const env: Record<string, string> = {
    HOME: os.homedir(),
    ...npmConfig('globalconfig'),
    ...npmConfig('userconfig'),
    ...npmConfig('cache'),
    ...npmConfig('cafile'),
    ...npmConfig('registry'),
    ...inherited('NODE_EXTRA_CA_CERTS'),
    npm_config_prefix: prefix,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}`,
    // The sidecar listens on loopback here; the README leaves http.host at its default.
    CLOUDAUTH_HTTP_HOST: '127.0.0.1',
  };
  const bash = (text: string): Promise<CliRun> =>
    runProcess('bash', ['--norc', '-euo', 'pipefail', '-c', `cd ${JSON.stringify(cwd)}\n${local(text)}`], env, { timeoutMs: STEP_MS, minimalEnv: true });
  // Nothing is installed before npm is seen to install into the temporary prefix.
  expect((await bash('npm root -g')).stdout.trim()).toBe(path.join(prefix, 'lib', 'node_modules'));

  // 1. The artefact: this tree packed (dist/ is built; prepack would build it again).
  const packed = await runProcess(
    'bash',
    ['-c', `cd ${JSON.stringify(packageRoot())} && npm pack --ignore-scripts --pack-destination ${JSON.stringify(cwd)}`],
    {},
    {
      timeoutMs: STEP_MS,
    },
  );
  expect(packed.stdout.trim().split('\n').pop()).toBe(TARBALL);
  writeFileSync(path.join(cwd, 'password-file'), `${PASSWORD}\n`, { mode: 0o600 });

  const report = (step: string, run: CliRun) => `${step}\n--- exit ${run.code}\n${run.stdout}${run.stderr}`;
  const check = rest.at(-1);
  for (const block of rest.slice(0, -1)) {
    if (block.skip) continue;
    if (/\bfdl-cloudauth daemon\b/.test(block.text)) {
      const child = spawn('bash', ['--norc', '-euo', 'pipefail', '-c', `cd ${JSON.stringify(cwd)}\n${local(block.text)}`], {
        env: { ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      track(child);
      child.stdout?.on('data', (d: Buffer) => (daemonLog += d.toString('utf8')));
      child.stderr?.on('data', (d: Buffer) => (daemonLog += d.toString('utf8')));
      daemon = child;
      continue;
    }
    const run = await bash(block.text);
    expect(report(block.text, run)).toMatch(/--- exit 0\n/);
  }

  // The CLI on the PATH is the installed one, from the tarball, and runs from its dist/.
  const which = await bash('command -v fdl-cloudauth && readlink -f "$(command -v fdl-cloudauth)"');
  expect(which.stdout).toContain(path.join(prefix, 'bin', 'fdl-cloudauth'));
  expect(which.stdout).toContain(path.join(prefix, 'lib', 'node_modules', 'fdl-cloudauth', 'dist', 'daemon', 'cli', 'main.js'));
  expect(daemon).toBeDefined();

  // 7. Check: run until the sidecar has authenticated and the project is registered.
  expect(check?.text).toMatch(/fdl-cloudauth status/);
  let last: CliRun | undefined;
  await waitFor(
    'the quick-start to end with a registered project',
    async () => {
      if (daemon?.exitCode !== null) throw new Error(`the sidecar exited: ${daemonLog}`);
      last = await bash(check?.text ?? '');
      return last.code === 0 && /Status\s+REGISTERED/.test(last.stdout) && /fdl-node-1\s+ok/.test(last.stdout);
    },
    STEP_MS,
    1000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${last ? report('status; doctor', last) : ''}\nsidecar:\n${daemonLog.slice(-3000)}`);
  });
  expect(last?.stdout).toContain('account acme');
}, 900_000);
