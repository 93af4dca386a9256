import { spawn } from 'node:child_process';
import { assertBuilt, cleanEnv, CLI_ENTRY } from './authserver';
import { track } from './process-registry';

/** Runs `fdl-cloudauth <args>` from dist/ as a real process, with only the given CLOUDAUTH_* environment. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string>, stdin?: string, timeoutMs = 30_000): Promise<CliRun> {
  assertBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fdl-cloudauth ${args.join(' ')} did not finish within ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}
