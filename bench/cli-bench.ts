import { spawnSync } from 'node:child_process';
import path from 'node:path';
import Redis from 'ioredis';
import { packageRoot } from '../shared/package-root';
import { ProjectKeys } from '../shared/redis/keys';
import { reason, writeCredential, writeNodeRecord } from '../harness/node-records';
import { waitFor } from '../harness/wait';
import { startRedis, testPrefix } from '../harness/redis-server';
import { figure, median, type BenchContext, type Figure } from './figure';

/**
 * Benchmark 9: how fast the CLI answers. `fdl-cloudauth --help` beside `node -e 0`
 * (what any Node program costs to start), and `status --json` against a real
 * redis-server beside a minimal ioredis script that sends the same commands (what
 * reading those keys from a fresh Node process costs). The two runs of each pair
 * alternate, so a busy moment of the machine falls on both. Wall time of the whole
 * process, from spawn to exit.
 */
const NODES = 5;
/** Commands of the connection itself, not reads of the project: the baseline's client makes its own. */
const HOUSEKEEPING = new Set(['client', 'info', 'select', 'auth', 'hello', 'ping', 'quit', 'readonly', 'cluster', 'command']);

interface Timed {
  ms: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

function timed(args: readonly string[], env: NodeJS.ProcessEnv): Timed {
  const t0 = process.hrtime.bigint();
  const out = spawnSync(process.execPath, args, { cwd: packageRoot(), env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, status: out.status, stdout: out.stdout, stderr: out.stderr };
}

/** Runs each command `runs` times, alternating, after one untimed warm-up (disk cache) of each. */
function alternate(runs: number, a: () => Timed, b: () => Timed): { a: number[]; b: number[] } {
  a();
  b();
  const times = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < runs; i++) {
    times.a.push(check(a()).ms);
    times.b.push(check(b()).ms);
  }
  return times;
}

function check(run: Timed): Timed {
  if (run.status !== 0) throw new Error(`a measured process exited ${String(run.status)}: ${run.stderr.trim().slice(0, 400)}`);
  return run;
}

/** The baseline of `status --json`: connect with ioredis, send the given commands in one pipeline, print the replies. */
const READ_SCRIPT = `
const Redis = require('ioredis');
const commands = JSON.parse(process.argv[2]);
const redis = new Redis(process.argv[1]);
redis.pipeline(commands).exec().then((replies) => {
  process.stdout.write(JSON.stringify(replies.map(([, reply]) => reply)) + '\\n');
  return redis.quit();
});`;

/** The commands (with their arguments) one `status --json` sends, seen through MONITOR. */
async function statusCommands(url: string, run: () => Timed): Promise<string[][]> {
  const client = new Redis(url);
  const monitor = (await client.monitor()) as Redis;
  client.disconnect();
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') seen.push(args.map(String));
  });
  check(run());
  // MONITOR lines may trail the process's exit: an ECHO sent after it marks the end.
  const marker = new Redis(url);
  await marker.echo('fdl-bench-end-of-status');
  marker.disconnect();
  try {
    await waitFor('MONITOR to show the end marker', () => seen.some((args) => args[1] === 'fdl-bench-end-of-status'), 10_000, 10);
  } finally {
    monitor.disconnect();
  }
  const end = seen.findIndex((args) => args[1] === 'fdl-bench-end-of-status');
  return seen.slice(0, end).filter((args) => !HOUSEKEEPING.has((args[0] ?? '').toLowerCase()));
}

export async function benchCli(ctx: BenchContext): Promise<Figure[]> {
  const runs = ctx.quick ? 5 : 30;
  const main = path.join(packageRoot(), 'dist', 'daemon', 'cli', 'main.js');
  const env = { PATH: process.env.PATH ?? '' };

  const help = alternate(
    runs,
    () => timed([main, '--help'], env),
    () => timed(['-e', '0'], env),
  );
  const helpMs = median(help.a);
  const bareMs = median(help.b);
  ctx.log(`--help ${helpMs.toFixed(1)} ms, node -e 0 ${bareMs.toFixed(1)} ms (medians of ${runs})`);

  const server = await startRedis();
  const admin = new Redis(server.url);
  try {
    const keys = new ProjectKeys(testPrefix('bench-cli'), 'bench');
    await writeCredential(admin, keys);
    const now = Date.now();
    for (let i = 0; i < NODES; i++) {
      const failing = i === 0;
      await writeNodeRecord(admin, keys, {
        id: `node-${i + 1}`,
        lastAttemptAt: now - 60_000,
        lastSuccessAt: failing ? now - 3_600_000 : now - 60_000,
        consecutiveFailures: failing ? 3 : 0,
        reason: failing ? reason(null, 'CONNECTION_FAILED', now - 3_600_000) : null,
        license: { expiresAt: now + 86_400_000 * 90, capacity: 10, bound: NODES },
      });
    }
    const statusEnv = { ...env, CLOUDAUTH_PROJECT: keys.project, CLOUDAUTH_REDIS_URL: server.url, CLOUDAUTH_REDIS_KEY_PREFIX: keys.keyPrefix };
    const status = () => timed([main, 'status', '--json'], statusEnv);
    const commands = await statusCommands(server.url, status);
    if (commands.length === 0) throw new Error('status --json sent no command that the baseline could repeat');
    const read = () => timed(['-e', READ_SCRIPT, server.url, JSON.stringify(commands)], env);
    const times = alternate(runs, status, read);
    const statusMs = median(times.a);
    const readMs = median(times.b);
    ctx.log(`status --json ${statusMs.toFixed(1)} ms, ioredis script ${readMs.toFixed(1)} ms (medians of ${runs}; ${commands.length} commands)`);
    ctx.note(
      `Medians of ${runs} runs each, the measured command and its baseline alternating. The \`status --json\` project has ${NODES} nodes; ` +
        `the baseline script sends the ${commands.length} commands that \`status --json\` sent (recorded through MONITOR: ` +
        `${[...new Set(commands.map((c) => (c[0] ?? '').toUpperCase()))].join(', ')}) in one pipeline and prints the replies.`,
    );
    return [
      figure({
        id: 'cli.help',
        name: '`fdl-cloudauth --help`, wall time',
        value: helpMs,
        unit: 'ms',
        baseline: bareMs,
        baselineText: '`node -e 0`',
        target: 'ratio ≤ 2',
        met: helpMs <= 2 * bareMs,
        digits: 1,
      }),
      figure({
        id: 'cli.status',
        name: `\`fdl-cloudauth status --json\` (${NODES} nodes), wall time`,
        value: statusMs,
        unit: 'ms',
        baseline: readMs,
        baselineText: 'node + ioredis script sending the same commands',
        target: 'ratio ≤ 2',
        met: statusMs <= 2 * readMs,
        digits: 1,
      }),
    ];
  } finally {
    admin.disconnect();
    await server.dispose();
  }
}
