import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { assertBuilt, cleanEnv, CLI_ENTRY } from '../support/authserver';
import { track } from '../support/process-registry';

/**
 * `fdl-cloudauth demo` end to end, as a user runs it (piped, so in append mode): a
 * private redis-server, the reference server, three sidecar processes, the scripted
 * story in order, the metrics URLs, exit 0 at the end of --duration, nothing left
 * running afterwards, and no secret in the output. One test: it takes --duration.
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

it('runs the whole story (registered → degraded → failed → registered again), prints the metrics URLs and leaves nothing behind', async () => {
  assertBuilt();
  const child = spawn(process.execPath, [CLI_ENTRY, 'demo', '--duration', '150s'], {
    env: cleanEnv({ CLOUDAUTH_DEMO_PASSWORD: PASSWORD, CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: TOKEN }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const all = `${out}\n${err}`;

  expect({ code, err }).toEqual({ code: 0, err: '' });

  // The story, in this order.
  const marks = [
    /step 1\/6: all 3 nodes authenticated; the project is registered/,
    /step 2\/6: taking node-3's IP 10\.0\.0\.13 out of the account's allow-list/,
    /project demo: registered → degraded/,
    /step 3\/6: node-3 is failing with 30003 LICENSE_IP_ERROR; the project is degraded/,
    /project demo: degraded → failed/,
    /step 4\/6: .*the project is marked FAILED/,
    /step 5\/6: .*registered the project again/,
    /step 6\/6: .*the project is registered again/,
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

  // Secrets never reach the output.
  expect(all).not.toContain(PASSWORD);
  expect(all).not.toContain(TOKEN);

  // Nothing left running: the PIDs it printed, and anything mentioning its directory.
  const pids = [...out.matchAll(/\bpid (\d+)\b/g)].map((m) => Number(m[1]));
  expect(pids.length).toBeGreaterThanOrEqual(4);
  expect(pids.filter(alive)).toEqual([]);
  const dir = /and removed (\/\S+?)\.\n/.exec(out)?.[1];
  expect(dir).toMatch(/fdl-cloudauth-demo-/);
  expect(existsSync(dir as string)).toBe(false);
  expect(processesMentioning(dir as string)).toEqual([]);
});
