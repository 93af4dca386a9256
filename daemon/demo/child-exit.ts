import type { ChildProcess } from 'node:child_process';

/**
 * Stopping a child process the way the demo needs: a signal, a bounded wait for its
 * exit, then SIGKILL, so `close()` always ends and never leaves a process behind.
 */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, wait up to graceMs, then SIGKILL and wait again. Resolves once the process is gone. */
export async function terminate(child: ChildProcess, graceMs: number): Promise<'exited' | 'killed'> {
  if (hasExited(child)) return 'exited';
  child.kill('SIGTERM');
  if (await waitForExit(child, graceMs)) return 'exited';
  child.kill('SIGKILL');
  await waitForExit(child, 5000);
  return 'killed';
}
