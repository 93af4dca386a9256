import { appendFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';

/**
 * Every process a test starts is registered here. They are killed when the test
 * file's module registry is torn down (afterAll hooks installed by the helpers), when
 * the jest worker exits, and — for workers killed by a timeout — by jest's global
 * teardown, which reads the PID file written below.
 */
export const PID_FILE = process.env.FDL_TEST_PID_FILE ?? path.join(os.tmpdir(), `fdl-cloudauth-test-pids-${process.pid}.txt`);

const live = new Set<ChildProcess>();

export function track(child: ChildProcess): void {
  live.add(child);
  if (child.pid) {
    mkdirSync(path.dirname(PID_FILE), { recursive: true });
    appendFileSync(PID_FILE, `${child.pid}\n`);
  }
  child.once('exit', () => live.delete(child));
}

export function killAllTracked(): void {
  for (const child of live) {
    try {
      // A paused process must be resumed, or SIGKILL is queued behind SIGSTOP on some kernels.
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

process.once('exit', killAllTracked);
