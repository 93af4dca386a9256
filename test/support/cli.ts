import { spawn } from 'node:child_process';
import os from 'node:os';
import { assertBuilt, cleanEnv, CLI_ENTRY } from '../../harness/authserver';
import { track } from '../../harness/process-registry';

/** What a finished process left: its exit code or signal, and all it wrote. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed (closed at once when absent). */
  stdin?: string;
  /** The process is SIGKILLed and the run rejected past this. */
  timeoutMs?: number;
  /**
   * Nothing of this process's environment but PATH (and HOME, a temp dir) besides
   * `env`: for tests of what the CLI reads from its environment. Otherwise the
   * environment is this process's without any CLOUDAUTH_* variable.
   */
  minimalEnv?: boolean;
}

/** Runs a command as a real process, tracked so a failed test still stops it. */
export function runProcess(command: string, args: string[], env: Record<string, string>, options: RunOptions = {}): Promise<CliRun> {
  const { stdin, timeoutMs = 30_000, minimalEnv = false } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: minimalEnv ? { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env } : cleanEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish within ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // 'close', not 'exit': the run is over when its output is all read.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
  });
}

/** Runs `fdl-cloudauth <args>` from dist/ as a real process. */
export function runCli(args: string[], env: Record<string, string>, stdin?: string, timeoutMs?: number): Promise<CliRun> {
  assertBuilt();
  return runProcess(process.execPath, [CLI_ENTRY, ...args], env, { stdin, timeoutMs });
}
