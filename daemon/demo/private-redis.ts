import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { terminate, hasExited } from './child-exit';
import { DemoError } from './demo-error';
import { freePort } from './free-port';

/**
 * The demo's own `redis-server` when no Redis is configured: a free loopback port, no
 * persistence (--save '' --appendonly no), its files in the demo's temporary
 * directory. It runs in its own process group, so a Ctrl-C at the terminal reaches
 * only the demo, which stops the sidecars first and Redis last — the sidecars need
 * Redis to close cleanly.
 */
export const REDIS_INSTALL_HINT =
  'install Redis (`sudo apt-get install -y redis-server`, `brew install redis`; `npm run demo` does it for you as root), ' +
  'or point the demo to a Redis you run with CLOUDAUTH_REDIS_URL';

export class PrivateRedis {
  private child: ChildProcess | undefined;
  private port = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.port = await freePort();
    const log = openSync(path.join(this.dir, 'redis-server.log'), 'a');
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      '--logfile',
      '',
    ];
    let child: ChildProcess;
    try {
      child = spawn('redis-server', args, { stdio: ['ignore', log, log], detached: true });
    } finally {
      closeSync(log);
    }
    this.child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new DemoError(error.code === 'ENOENT' ? `redis-server is not installed: ${REDIS_INSTALL_HINT}` : `could not start redis-server: ${error.message}`),
        ),
      );
      child.once('exit', (code) =>
        reject(new DemoError(`redis-server exited at start (code ${code}); its log was ${path.join(this.dir, 'redis-server.log')}`)),
      );
    });
    failed.catch(() => undefined);
    await Promise.race([this.waitForPing(), failed]);
  }

  private async waitForPing(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const client = new Redis({ host: '127.0.0.1', port: this.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        if ((await client.ping()) === 'PONG') return;
      } catch {
        // Not accepting yet, or still loading.
      } finally {
        client.disconnect();
      }
      if (this.child && hasExited(this.child)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new DemoError(`redis-server on 127.0.0.1:${this.port} did not answer PING within 15 s`);
  }

  /** SIGTERM (Redis exits at once without persistence), SIGKILL if it lingers; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.child) await terminate(this.child, 5000);
    })();
    return this.closing;
  }

  /** Last resort on process exit: synchronous. */
  killNow(): void {
    if (this.child && !hasExited(this.child)) this.child.kill('SIGKILL');
  }
}
