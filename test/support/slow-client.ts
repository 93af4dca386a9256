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

export interface Flood {
  /** Flood sockets the server has kept open for at least 300 ms (a refused one closes at once). */
  held(): number;
  stop(): void;
}

/**
 * Silent TCP connections from each of `addresses` (loopback source addresses such as
 * 127.0.0.2, through `localAddress`), `perAddress` of them, each opened again 50 ms
 * after the server closes it: an attacker who keeps every slot he can get.
 */
export function flood(port: number, addresses: readonly string[], perAddress: number): Flood {
  const open = new Map<net.Socket, number>();
  let stopped = false;
  const connect = (localAddress: string) => {
    if (stopped) return;
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => undefined);
    socket.on('connect', () => open.set(socket, performance.now()));
    socket.on('close', () => {
      open.delete(socket);
      if (!stopped) setTimeout(() => connect(localAddress), 50);
    });
  };
  for (const address of addresses) for (let i = 0; i < perAddress; i++) connect(address);
  return {
    held: () => [...open.values()].filter((at) => performance.now() - at >= 300).length,
    stop: () => {
      stopped = true;
      for (const socket of open.keys()) socket.destroy();
      open.clear();
    },
  };
}
