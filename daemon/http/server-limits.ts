import type http from 'node:http';
import type { Socket } from 'node:net';

/**
 * Limits every HTTP server of the product applies (the sidecar's endpoints and the
 * reference authorization server), so a client that opens a socket and sends
 * nothing, trickles its headers or its body, or opens thousands of sockets, holds
 * nothing for long.
 *
 * Node checks the header and request deadlines only every `connectionsCheckingInterval`
 * (30 s by default): with the old 20/30 s timeouts a silent socket lived ~48 s. The
 * interval is set to a quarter of the header deadline (at most 1 s) so a deadline
 * fires within a fraction of itself. `timeout` closes a socket that sends nothing at
 * all for idleMs, between requests or before the first one.
 *
 * A TLS server waits for the handshake before any of those run (Node's default
 * `handshakeTimeout` is 120 s): a socket that connects and says nothing held its slot
 * for two minutes. The handshake deadline is the header deadline, so a silent socket
 * lasts as long on TLS as on plain HTTP.
 *
 * Connections are capped per source address as well as in all, and a few slots beyond
 * the global cap are kept for addresses that hold almost none (`reservedConnections`):
 * a flood from other addresses fills its own share and the global cap, and a kubelet's
 * probe or Prometheus' scrape — one or two connections from an address of their own —
 * still gets in. (A listener of their own would need a second port in every manifest
 * and scrape configuration; the reserve works on the one port Prometheus and the
 * probes already use. docs/security.md says what it does not cover.)
 */
export interface ServerLimits {
  /** The whole header block must arrive within this. */
  readonly headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. */
  readonly requestTimeoutMs: number;
  /** A socket silent this long is closed; also the keep-alive time between requests. */
  readonly idleTimeoutMs: number;
  /** Connections beyond this are closed as soon as they are accepted (but see reservedConnections). */
  readonly maxConnections: number;
  /** Connections one source address may hold at once. */
  readonly maxConnectionsPerAddress?: number;
  /** Slots beyond maxConnections for an address that holds fewer than RESERVE_FOR_HOLDING connections. */
  readonly reservedConnections?: number;
}

export const DEFAULT_LIMITS = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 20_000,
  idleTimeoutMs: 5_000,
  maxConnections: 256,
  maxConnectionsPerAddress: 32,
  reservedConnections: 16,
}) satisfies Required<ServerLimits>;

/**
 * The reserve takes an address's first connection and a second (one closing while the
 * next opens, or a probe beside a scrape); an address of a flood holds more.
 */
export const RESERVE_FOR_HOLDING = 2;

/**
 * An address refused for holding too many is kept out of the reserve this long: a
 * flood's sockets are cut together (the handshake or silence deadline) and come back
 * holding none, which would otherwise look like a probe's and take the reserve (eight
 * addresses × two filled all sixteen slots, and the kubelet's probe was refused).
 */
export const FLOODER_MEMORY_MS = 60_000;
/** Addresses remembered as flooders at most (a bound on memory under a spoofed-looking spread). */
const FLOODERS_KEPT = 4096;

/** Options for http(s).createServer that only work when given at creation. */
export function serverCreationOptions(limits: ServerLimits): http.ServerOptions & { handshakeTimeout: number } {
  return {
    handshakeTimeout: limits.headersTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/** Applies the limits that are properties of a created server. */
export function applyServerLimits(server: http.Server, limits: ServerLimits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.idleTimeoutMs;
  const perAddress = limits.maxConnectionsPerAddress ?? DEFAULT_LIMITS.maxConnectionsPerAddress;
  const reserved = limits.reservedConnections ?? DEFAULT_LIMITS.reservedConnections;
  // Node refuses beyond this before any listener runs; the rules below decide within it.
  server.maxConnections = limits.maxConnections + reserved;
  // A silent socket (no request yet, or an idle keep-alive one) is destroyed.
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
  // ... but once a request has arrived whole, the wait for its answer is the server's
  // time, not the client's silence: a queued password check or a slow hash may take
  // longer than the silence deadline, and destroying the socket then answered nothing
  // ("socket hang up"). The deadline is set again when the answer is written, for the
  // keep-alive wait. A body still arriving keeps the deadline (a slow client).
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    const serverTime = () => {
      if (!res.writableFinished && !socket.destroyed) socket.setTimeout(0);
    };
    // A request without a body is complete only once the parser has finished with it,
    // just after 'request' is emitted; 'end' fires only for a body a handler reads.
    const whenComplete = () => (req.complete ? serverTime() : req.once('end', serverTime));
    if (req.complete) serverTime();
    else setImmediate(whenComplete);
    res.once('finish', () => {
      if (!socket.destroyed) socket.setTimeout(limits.idleTimeoutMs);
    });
  });
  const held = new Map<string, number>();
  let total = 0;
  const flooders = new Map<string, number>();
  const remember = (address: string, now: number) => {
    flooders.delete(address);
    flooders.set(address, now);
    // Oldest first (insertion order): the ones past their time, or past the bound, go.
    for (const [old, at] of flooders) {
      if (flooders.size <= FLOODERS_KEPT && now - at < FLOODER_MEMORY_MS) break;
      flooders.delete(old);
    }
  };
  // Before the HTTP or TLS listener: a refused socket is closed before either reads a byte.
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const mine = held.get(address) ?? 0;
    const now = performance.now();
    const flooded = flooders.get(address);
    const recentFlooder = flooded !== undefined && now - flooded < FLOODER_MEMORY_MS;
    if (mine >= perAddress || (total >= limits.maxConnections && (mine >= RESERVE_FOR_HOLDING || recentFlooder))) {
      if (mine >= RESERVE_FOR_HOLDING) remember(address, now);
      socket.destroy();
      return;
    }
    total += 1;
    held.set(address, mine + 1);
    socket.once('close', () => {
      total -= 1;
      const left = (held.get(address) ?? 1) - 1;
      if (left > 0) held.set(address, left);
      else held.delete(address);
    });
  });
}

/** Checks a set of limits, naming the one that is wrong. */
export function checkLimits(limits: ServerLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`server limit ${name} must be a positive integer, got ${String(value)}`);
  }
  if (limits.requestTimeoutMs < limits.headersTimeoutMs) {
    throw new RangeError('server limit requestTimeoutMs must be at least headersTimeoutMs (the headers are part of the request)');
  }
}

/**
 * For a server's 'clientError' handler: answers a passed header or request deadline
 * with 408 and closes, as Node does when no handler is installed. Returns whether it
 * handled the error.
 */
export function closeSlowClient(error: Error & { code?: string }, socket: import('node:net').Socket): boolean {
  if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return false;
  if (socket.writable) socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  else socket.destroy();
  return true;
}
