import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The install steps stop no process they did not start (issue 28, item 9). `npm
 * test`'s install step (scripts/ensure-tools.js) and `.ci/run` ran `pkill -x
 * prometheus` after installing the prometheus package: on a user's machine, their own
 * Prometheus. Now the package's service start is held during the install (Debian's
 * policy-rc.d, scripts/hold-service-starts.js) and nothing is stopped afterwards.
 * Here: the steps hold no stop-by-name, and the holder answers 101 while the command
 * runs and puts back what was there before.
 */
const ROOT = path.resolve(__dirname, '../..');
const HOLDER = path.join(ROOT, 'scripts/hold-service-starts.js');
const STEPS = ['scripts/ensure-tools.js', '.ci/run'];

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-policy-rc-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The code of a step without its comments. */
function code(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*(#|\/\/)/.test(line))
    .join('\n');
}

function runUnderHold(policy: string): { status: number | null; stdout: string } {
  // The held command runs the policy file as invoke-rc.d would, and prints its answer.
  const r = spawnSync(process.execPath, [HOLDER, 'sh', '-c', '"$POLICY_RC_D" start prometheus; echo "answer $?"'], {
    env: { ...process.env, POLICY_RC_D: policy },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout };
}

describe('install steps', () => {
  it.each(STEPS)('%s stops no process by name and holds service starts around apt-get install', (file) => {
    const text = code(file);
    expect(text).not.toMatch(/\b(pkill|killall)\b/);
    expect(text).not.toMatch(/\bservice\s+\S+\s+stop\b|systemctl\s+stop/);
    // Every line that runs an install (the hint printed to a user without root, `sudo apt-get …`, runs nothing).
    const installs = text.split('\n').filter((l) => /apt-get'?,?\s*\[?'?\s*install|apt-get install/.test(l) && !l.includes('sudo '));
    expect(installs.length).toBeGreaterThan(0);
    for (const line of installs) {
      expect({ line, held: /runHeld|hold-service-starts/.test(line) }).toEqual({ line, held: true });
    }
  });

  it('answers 101 to a service start while the command runs, removes the policy afterwards, and passes the exit status on', () => {
    const policy = path.join(dir, 'policy-rc.d');
    const run = runUnderHold(policy);
    expect(run.stdout).toContain('answer 101');
    expect(run.status).toBe(0);
    expect(existsSync(policy)).toBe(false);
    const failing = spawnSync(process.execPath, [HOLDER, 'sh', '-c', 'exit 7'], { env: { ...process.env, POLICY_RC_D: policy } });
    expect(failing.status).toBe(7);
    expect(existsSync(policy)).toBe(false);
  });

  it('puts back a policy-rc.d that was there before, content and mode', () => {
    const policy = path.join(dir, 'policy-rc.d');
    writeFileSync(policy, '#!/bin/sh\nexit 0\n', { mode: 0o750 });
    expect(runUnderHold(policy).stdout).toContain('answer 101');
    expect(readFileSync(policy, 'utf8')).toBe('#!/bin/sh\nexit 0\n');
    expect(statSync(policy).mode & 0o777).toBe(0o750);
  });
});
