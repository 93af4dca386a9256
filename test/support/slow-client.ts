import net from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * Raw TCP clients that misbehave the way a slow or hostile HTTP client does, for the
 * tests of the servers' deadlines and connection caps.
 */

/** Opens a socket, runs `feed` on it, and resolves when the server closes it: what it answered and after how long. */
export function untilClosed(port: number, feed: (socket: net.Socket) => void): Promise<{ answer: string; ms: number }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = performance.now();
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('connect', () => feed(socket));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ answer, ms: Math.round(performance.now() - started) }));
  });
}

/** Writes `head`, then `byte` every `everyMs` until the socket closes: never idle, never done. */
export function trickle(socket: net.Socket, head: string, byte: string, everyMs: number): void {
  socket.write(head);
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(byte);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

/** Opens `count` connections and has each answered once, so the server has counted them all. */
export async function holdConnections(port: number, count: number): Promise<net.Socket[]> {
  const held: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    held.push(socket);
  }
  return held;
}
