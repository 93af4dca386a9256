import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { assertBuilt, cleanEnv, CLI_ENTRY } from '../../harness/authserver';
import { track } from '../../harness/process-registry';

/**
 * `fdl-cloudauth demo` end to end, as a user runs it (piped, so in append mode): a
 * private redis-server, the reference server, three sidecar processes, the scripted
 * story in order, the metrics URLs, exit 0 when stopped after the story, exit 1 when
 * --duration ends before it, nothing left running afterwards, and no secret in the
 * output. The story runs at `--pace fast` (same steps and threshold, 1 s heartbeat):
 * the test stops it with SIGTERM once it says the story is complete, as a user's
 * Ctrl-C would, instead of sitting out a --duration.
 */
jest.setTimeout(200_000);

const PASSWORD = 'demo-test-password-9c41d7e2';
const TOKEN = 'demo-test-admin-token-5b80f3a6';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0) until reaped; it runs nothing.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** PIDs of live processes whose command line or environment mentions `text`. */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    for (const file of ['cmdline', 'environ']) {
      try {
        if (readFileSync(`/proc/${entry}/${file}`).toString('utf8').includes(text)) found.push(Number(entry));
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
  }
  return [...new Set(found)].filter(alive);
}

interface DemoRun {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the demo; `onOutput` sees stdout as it grows and may signal the child. */
async function runDemo(args: string[], onOutput: (out: string, child: ChildProcess) => void = () => undefined): Promise<DemoRun> {
  assertBuilt();
  const child = spawn(process.execPath, [CLI_ENTRY, 'demo', ...args], {
    env: cleanEnv({ CLOUDAUTH_DEMO_PASSWORD: PASSWORD, CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: TOKEN }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    onOutput(out, child);
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, out, err };
}

/** No secret in the output, and nothing left running: the PIDs it printed, and anything mentioning its directory. */
function expectNothingLeft({ out, err }: DemoRun, minPids: number): void {
  const all = `${out}\n${err}`;
  expect(all).not.toContain(PASSWORD);
  expect(all).not.toContain(TOKEN);

  expect(out).toMatch(/Stopped every process the demo started/);
  const pids = [...out.matchAll(/\bpid (\d+)\b/g)].map((m) => Number(m[1]));
  expect(pids.length).toBeGreaterThanOrEqual(minPids);
  expect(pids.filter(alive)).toEqual([]);
  const dir = /and removed (\/\S+?)\.\n/.exec(out)?.[1];
  expect(dir).toMatch(/fdl-cloudauth-demo-/);
  expect(existsSync(dir as string)).toBe(false);
  expect(processesMentioning(dir as string)).toEqual([]);
}

it('runs the whole story (registered → degraded → failed → registered again), prints the metrics URLs and leaves nothing behind', async () => {
  let stopped = false;
  // --duration bounds the run if the story never completes (the demo then exits 1 and says where it stopped).
  const run = await runDemo(['--pace', 'fast', '--duration', '150s'], (out, child) => {
    if (!stopped && out.includes('The story is complete')) {
      stopped = true;
      child.kill('SIGTERM');
    }
  });
  const { code, out, err } = run;

  expect({ code, err }).toEqual({ code: 0, err: '' });

  // The story, in this order.
  const marks = [
    /heartbeat every 1s, a node fails at 4 consecutive failures/,
    /step 1\/6: all 3 nodes authenticated; the project is registered/,
    /step 2\/6: taking node-3's IP 10\.0\.0\.13 out of the account's allow-list/,
    /project demo: registered → degraded/,
    /step 3\/6: node-3 is failing with 30003 LICENSE_IP_ERROR; the project is degraded/,
    /project demo: degraded → failed/,
    /step 4\/6: .*the project is marked FAILED/,
    /step 5\/6: .*registered the project again/,
    /step 6\/6: .*the project is registered again/,
    /The story is complete/,
    /SIGTERM received: stopping the demo/,
    /Stopped every process the demo started/,
  ];
  let at = -1;
  for (const mark of marks) {
    const match = mark.exec(out.slice(at + 1));
    if (!match) throw new Error(`${mark} not found after offset ${at} in:\n${out}`);
    at += 1 + match.index;
  }
  // The live table (append mode) shows the failed project with node-3's reason.
  expect(out).toMatch(/Status {3}FAILED/);
  expect(out).toMatch(/node-3 +failed +4 +30003 LICENSE_IP_ERROR/);

  const metrics = [...out.matchAll(/node-\d +sidecar pid \d+, IP [\d.]+, metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)/g)].map((m) => m[1]);
  expect(metrics).toHaveLength(3);
  expect(new Set(metrics).size).toBe(3);
  expect(out).toMatch(/status JSON +http:\/\/127\.0\.0\.1:\d+\/status/);
  // The whole story ran with the sidecars as the project's least-privilege Redis user
  // (deploy/redis/): a permission it lacked would have stopped it.
  expect(out).toMatch(/Redis user +fdl-demo-[0-9a-f]+-\S+: keys and channel fdl-demo-[0-9a-f]+:\{\S+\}:\* only/);

  expectNothingLeft(run, 4);
});

it('stops at the end of --duration, says at which step the story was, exits 1 and leaves nothing behind', async () => {
  // One second ends the run while the cluster is still starting: the story cannot be complete.
  const run = await runDemo(['--pace', 'fast', '--duration', '1s']);
  expect(run.code).toBe(1);
  expect(run.err).toMatch(/^fdl-cloudauth demo: --duration 1s ended at step [0-5]\/6, before the project was registered again: give it more time/);
  expect(run.out).not.toMatch(/The story is complete/);
  expectNothingLeft(run, 1);
});
