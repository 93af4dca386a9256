import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../harness/wait';
import { track } from '../../harness/process-registry';

/**
 * A server binary of the Prometheus family (prometheus, alertmanager) run for a test:
 * its output in a log file of its own directory, ready once `GET <url>/-/ready`
 * answers 200, and a stop that sends SIGTERM, then SIGKILL after 10 s, and removes
 * the directory — also when it never became ready.
 */
export interface ServerProcess {
  readonly child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

export async function startServerProcess(o: { name: string; binary: string; args: readonly string[]; dir: string; url: string }): Promise<ServerProcess> {
  const logFile = path.join(o.dir, `${o.name}.log`);
  const logFd = openSync(logFile, 'a');
  const child = spawn(o.binary, [...o.args], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  track(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(o.dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `${o.name} to be ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${o.name} exited with ${child.exitCode}:\n${log()}`);
        const res = await fetch(`${o.url}/-/ready`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return res.status === 200;
      },
      30_000,
      200,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, log, stop };
}
