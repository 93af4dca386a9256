import net from 'node:net';

/**
 * Waiting on events, never on wall-clock margins (test/README.md): a value to appear,
 * a port to accept connections. Every wait has a deadline and fails naming what it
 * waited for.
 */

/** Resolves once something accepts TCP connections on host:port, or rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `check` until it returns a truthy value; fails with `what` after timeoutMs. A
 * check that never settles (a command queued behind a dead server) cannot hold the wait
 * past its deadline: it fails naming what it waited for, not as a jest timeout.
 */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const hung = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the check itself did not answer in time')), Math.max(deadline - Date.now(), 0) + 1000);
      });
      const value = await Promise.race([Promise.resolve().then(check), hung]);
      if (value) return value;
    } catch (error) {
      lastError = error;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await sleep(everyMs);
  }
}
