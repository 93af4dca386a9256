import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../shared/package-root';
import { hasExited, terminate } from './child-exit';
import { DemoError } from './demo-error';

/**
 * One node of the demo cluster: a real `fdl-cloudauth daemon` process (this package's
 * CLI run by this Node), configured through the environment exactly as an operator
 * would, with its own journal directory, HTTP port and node IP. Its log goes to a
 * file in the demo's temporary directory; the demo shows the tail when it fails.
 *
 * Own process group (detached): Ctrl-C at the terminal reaches only the demo, which
 * then sends each sidecar one SIGTERM. A sidecar that got the terminal's SIGINT as
 * well would take our SIGTERM as a second signal and exit without closing.
 */
export interface SidecarProcessOptions {
  nodeId: string;
  nodeIp: string;
  httpPort: number;
  /** Directory for the journal and the log file. */
  dir: string;
  /** CLOUDAUTH_* settings shared by every node (project, Redis, server, interval...). */
  env: Record<string, string>;
}

/** The CLI entry of this package: dist/daemon/cli/main.js, next to this file once built. */
export function cliEntry(): string {
  const beside = path.resolve(__dirname, '..', 'cli', 'main.js');
  if (existsSync(beside)) return beside;
  const built = path.join(packageRoot(), 'dist', 'daemon', 'cli', 'main.js');
  if (existsSync(built)) return built;
  throw new DemoError(`${built} is missing: run \`npm run build\` (or \`npm run demo\`, which builds first)`);
}

/** The environment of a child: ours without any CLOUDAUTH_* setting, which the demo sets itself. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CLOUDAUTH_')) env[key] = value;
  }
  return { ...env, ...extra };
}

export class SidecarProcess {
  private child: ChildProcess | undefined;
  private closing: Promise<void> | undefined;
  readonly logFile: string;

  constructor(private readonly o: SidecarProcessOptions) {
    this.logFile = path.join(o.dir, 'sidecar.log');
  }

  get nodeId(): string {
    return this.o.nodeId;
  }

  get nodeIp(): string {
    return this.o.nodeIp;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.o.httpPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && !hasExited(this.child);
  }

  start(entry: string): void {
    const journal = path.join(this.o.dir, 'journal');
    mkdirSync(journal, { recursive: true, mode: 0o700 });
    const log = openSync(this.logFile, 'a');
    try {
      this.child = spawn(process.execPath, [entry, 'daemon'], {
        env: childEnv({
          ...this.o.env,
          CLOUDAUTH_NODE_ID: this.o.nodeId,
          CLOUDAUTH_NODE_IP: this.o.nodeIp,
          CLOUDAUTH_HTTP_HOST: '127.0.0.1',
          CLOUDAUTH_HTTP_PORT: String(this.o.httpPort),
          CLOUDAUTH_JOURNAL_DIR: journal,
        }),
        stdio: ['ignore', log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    this.child.on('error', () => undefined);
  }

  /** Resolves once GET /healthz answers 200; rejects when the process exits or after timeoutMs. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new DemoError(`the sidecar of ${this.o.nodeId} exited at start:\n${this.logTail(15)}`);
      try {
        const res = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new DemoError(`the sidecar of ${this.o.nodeId} did not serve /healthz within ${Math.round(timeoutMs / 1000)} s:\n${this.logTail(15)}`);
  }

  /** The last lines of the sidecar's log (JSON lines; the logger redacts secrets). */
  logTail(lines: number): string {
    try {
      return readFileSync(this.logFile, 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-lines)
        .map((l) => `  ${l}`)
        .join('\n');
    } catch {
      return '  (no log)';
    }
  }

  /** SIGTERM and wait for the sidecar's graceful stop (SIGKILL after 20 s); idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.child) await terminate(this.child, 20_000);
    })();
    return this.closing;
  }

  killNow(): void {
    if (this.child && !hasExited(this.child)) this.child.kill('SIGKILL');
  }
}
